"""Vocode (seed 003): `GET /v1/calls/list`, `GET /v1/calls?id=`, `POST /v1/calls/create`,
`POST /v1/calls/end?id=`.

Judged by the official `vocode-api` SDK (0.0.48), which validates every response strictly. Auth
`Authorization: Bearer` with an organisation API key. Errors are FastAPI's shapes (`errors.py`).

Mapping choices (the side-by-side table is `docs/dialects.md`):

- **Ids.** `id` is callplane's call UUID (the one every dialect shows); `user_id` is the
  organisation id. List items carry `agent` as the agent's UUID; get / create / end carry
  Vocode's `Agent` object: `id` the agent UUID, `prompt.id` `<agent>/v<version>` (the pinned
  version), `actions` empty, and a placeholder `voice_vocode` voice `<agent>/voice` — the SDK
  requires a voice, and the simulated line speaks text.
- **Status.** `queued` → `not_started`; `dialing`, `ringing`, `ongoing` → `in_progress`;
  `ended`, `not_connected`, `canceled` → `ended`; `error` → `error` (with `error_message` =
  the reason, and the failure's detail when there is one).
- **Stage.** `picked_up` once the call was answered, `transfer_successful` after a transfer
  (`call_transfer`), otherwise `created`. **Stage outcome** (terminal calls only):
  `user_hangup` → `human_disconnected`; any other end of an answered call → `bot_disconnected`;
  `dial_no_answer`, `dial_declined`, `voicemail_reached` → `human_unanswered`; every other reason
  (busy, failed, limits, canceled, suppressed, orphaned) → `call_did_not_connect`.
  `human_detection_result`: `no_human` for `voicemail_reached`, `human` once answered, else null.
  callplane adds `disconnection_reason` (its own vocabulary) so nothing is lost.
- **Telephony provider.** Vocode's enum is `vonage|twilio`. The simulated line speaks Twilio's
  REST and Media Streams protocol, so calls report `twilio` — the honest closest — with
  `telephony_metadata` null (there is no Twilio call SID to show) and the real line named in
  `callplane_telephony_provider: "simulated"` (the SDK keeps extra keys).
- **Times.** List items: Unix **seconds** as numbers (what Vocode's `datetime.timestamp()` gives,
  millisecond precision); get / create / end: ISO 8601 strings in UTC. Null until known.
- **Numbers.** E.164 out. In: E.164 or Korean domestic digits. `agent_phone_number` is the
  organisation's number (`from_number` outbound, `to_number` inbound).
- **Create.** `agent` must be the id of a callplane agent (its `current` version); an inline
  agent definition is a 422 (callplane agents are versioned definitions made with
  `callplane agents create` or the admin API, not per-call objects). `context` → the call's
  dynamic variables. `hipaa_compliant: true` → the call keeps no transcript, recording or
  analysis (`opt_out_sensitive_data_storage`). `on_no_human_answer`: only `hangup` (a machine
  answer ends the call with `voicemail_reached`); `continue` is a 422. `run_do_not_call_detection`
  is always in force (numbers on the do-not-call list are refused; `do_not_call_result` is
  therefore false on every call). `telephony_params` is accepted and unused. An `Idempotency-Key`
  header is honoured (callplane addition). No `agent` traffic split: Vocode requires `agent`.
  A field outside Vocode's documented create request (the fields above, exactly what the
  `vocode-api` SDK sends) is a 422 `extra_forbidden` naming it, FastAPI's own answer for a model
  that forbids extras: Vocode does not document ignoring unknown fields.
- **End.** Cancels a queued call (→ `ended`, outcome `call_did_not_connect`) or asks the worker
  to hang up a live one; ending a call that already ended answers it unchanged (200).
- **List.** `page` 1-based, `size` 1..100 (default 10), `(page-1) × size` capped by
  `CALLPLANE_MAX_OFFSET` (422 past it). `sort_column`: `start_time` (default; calls not yet
  started by creation time), `end_time` (running calls last), `created_at`, `id`; `sort_desc`
  default false, as Vocode documents. `total_is_estimated` is always false: totals are exact,
  and Vocode's list has no transcript search (the one list capped at 1,000 calls). `transcript`
  is `BOT: …` / `HUMAN: …` lines (vocode-core's labels).

Its routes (`routes.py`) are included by `api/app.py`, not imported here: importing a dialect's
renderers (as another dialect's or a worker's code does) should not load its HTTP routes.
"""
