"""Retell: `POST /v2/create-phone-call`, `GET /v2/get-call/{id}`, `POST /v2/list-calls` (legacy,
a bare array), `POST /v3/list-calls` (CallFilter, see `filters.py`), `POST /v2/stop-call/{id}`.

Judged by the official `retell-sdk` (6.2.13) pointed at callplane. Auth `Authorization: Bearer`
with an organisation API key. Errors: `{"status": "error", "message"}` (see `errors.py`).

Mapping choices (the side-by-side table is `docs/dialects.md`):

- **Ids.** `call_id` is callplane's call UUID, the same id every dialect shows. `agent_id` is the
  agent's UUID; `agent_version` is the integer version the call is pinned to (callplane's
  versions start at 1, Retell's at 0 — a Retell `override_agent_version: 0` is a 400).
- **Status.** `queued`, `dialing`, `ringing` → `registered` (Retell: "call id issued, starting
  to make a call"); `ongoing`, `ended`, `error`, `not_connected` keep their names; `canceled`
  (withdrawn before dialling) → `not_connected` with reason `manual_stopped`: it never connected,
  and it was stopped through the API.
- **Disconnection reasons.** Same word where Retell has one. Otherwise the nearest Retell reason:
  `insufficient_balance` → `credit_exhausted`; `error_voxai` and `flow_error` → `error_unknown`
  (Retell's `error_retell` names Retell's platform, and its `error_llm_*` reasons name a custom
  LLM socket; neither is what happened); `orphaned_no_agent_pickup` → `registered_call_timeout`
  (registered but never taken up in time); `dial_declined` → `user_declined`;
  `daily_call_limit_reached` / `hourly_call_limit_reached` → `budget_reached` (an
  organisation-set usage cap); `suppressed` → `user_requested_dnc` (the number is on the
  do-not-call list); `canceled_by_user` → `manual_stopped`. Filters accept every Retell reason;
  reasons callplane never produces (`ivr_reached`, …) match no call.
- **Call type and direction.** callplane's `web` → `web_call`; every other type → `phone_call`
  with `direction` `inbound`/`outbound`, `from_number` and `to_number` always present (E.164) so
  the SDK parses it as a phone call. Web calls carry no `access_token` (callplane has no web
  rooms); the SDK still parses them as web calls.
- **Batch calls.** A call made for a batch (a campaign) carries `batch_call_id`; the v3 list
  filters on it (`filter_criteria.batch_call_id`, string `eq`). `GET /get-batch-call/{id}` (not
  in Retell's SDK, which only creates) answers the batch's status and counters.
- **Times** are Unix ms (`start_timestamp`, `end_timestamp`, `duration_ms`), as in Retell.
- **Telephony id.** `telephony_identifier.twilio_call_sid` only when the line's call id is a Twilio
  call SID; the simulated line's `sim-…` ids are left out rather than mislabelled.
- **Numbers** are E.164 in and out; a number that is not E.164 is a 400.
  `ignore_e164_validation` is accepted and has no effect (the line must dial the number);
  `honor_internal_dnc` is accepted and always in force (callplane refuses suppressed numbers).
- **Create.** `override_agent_id` omitted → the from_number's traffic split, as in Vox.
  `override_agent_version` takes an integer, `latest` (→ `current`), `latest_published`
  (→ `production`), or callplane's `current` / `production` / `v<N>`.
  `retell_llm_dynamic_variables` → the call's dynamic variables; `metadata` is echoed.
  `idempotency_key` (or the `Idempotency-Key` header; both at once must agree) uses callplane's
  idempotency (24 h, the same key space as Vox's header): a retry returns the same call
  (`Idempotent-Replayed: true`), a different body with the same key is a 400. `agent_override`
  and `custom_sip_headers` are not supported (400 when non-empty). A field Retell's create does
  not define is a 400 naming it (Retell's OpenAPI documents no leniency; the SDK sends only
  documented fields).
  Answers 201 with the call (`call_status: registered`).
- **Batch calls.** `POST /create-batch-call` is a campaign (`batch.py`).
- **Stop.** `stop-call` cancels a queued call (→ `not_connected` / `manual_stopped`) or asks the
  worker to hang up a live one: still dialling or ringing, the attempt is hung up within a second
  (→ `not_connected` / `manual_stopped`, unbilled); answered, it ends `agent_hangup`; 204. A call
  that already finished is a 400.
- **Transcript.** `transcript` is `Agent: …` / `User: …` lines; `transcript_object` the
  utterances with their `words` (seconds from the call's start) where an audio call's transcriber
  gave word timings, else empty; `transcript_with_tool_calls`
  adds tool calls (arguments as a JSON string) and node transitions (the node name serves as
  Retell's node id and name). Opted-out calls: all three null, `data_storage_setting:
  basic_attributes_only`.
- **Analysis.** `call_summary`, `user_sentiment` capitalised (`Positive`…), `call_successful`,
  `in_voicemail`; `custom_analysis_data` is one object `{name: value}`.
- **Cost.** Retell counts cents; callplane's currency is KRW, so `combined_cost` is in KRW minor
  units (1/100 KRW), with one product line `callplane_talk_time`.
- **Lists.** Both sort by start time (calls not yet started by creation time). v3: `skip` is
  capped by `CALLPLANE_MAX_OFFSET`; `pagination_key` is opaque; `include_total` adds `total` and,
  as a callplane addition, `total_is_estimated` (true when a transcript search matched more
  calls than the 1,000 its list holds; the total is exact otherwise).
  Legacy v2: `pagination_key` is the last call id of the previous page; `call_successful` and
  `in_voicemail` filters are a 400.

The routes (`routes.py`, `batch.py`) are included by `api/app.py`, not imported here: a worker
imports this package for the webhook format alone (`webhooks.py`), and loading the routes cost it
half a second of CPU at start-up.
"""
