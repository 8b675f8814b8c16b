"""Zudu (seed 002): `POST /api/calls` and `GET /api/calls` (list), `GET /api/calls/{id}`,
`POST /api/calls/create-phone-call`.

Auth: both `X-API-KEY` and `X-API-SECRET`, an organisation's key + secret pair (`callplane keys
create --kind key_secret`, `POST /admin/v1/keys {"kind": "key_secret"}`, or the demo pair printed at
first start). Every answer is the envelope `{message, status, error, data}`; errors in
`errors.py`.

Mapping choices (the side-by-side table is `docs/dialects.md`):

- **Ids.** `id` and `call_id` are both callplane's call UUID (Zudu has two ids; callplane has
  one, the one every dialect shows). `GET /api/calls/{id}` takes it. `agent_id` is the agent UUID.
- **Status** (upper case, as Zudu stores it). `queued` → `REGISTERED` (the call exists, nothing
  dialled yet); `dialing`, `ringing`, `ongoing` → `ONGOING` (Zudu reports a phone call
  `ONGOING` from the moment it is initiated); `ended` → `ENDED`; `not_connected` and `canceled`
  → `ENDED` (Zudu has no word for a call that never connected; its reason says why, as in
  Retell's older model); `error` → `ERROR`. `SCHEDULED` is never reported (callplane queues a
  call at once); filtering on it matches no call. Filters are case-insensitive (`ongoing`,
  `ENDED`).
- **Disconnection reasons** are Retell's (Zudu runs a Retell call model), upper-cased:
  `USER_HANGUP`, `DIAL_NO_ANSWER`, `CREDIT_EXHAUSTED`, `MANUAL_STOPPED`, … (see the Retell
  dialect for the nearest-reason choices).
- **Call type.** callplane's `web` → `WEB_CALL`; every other type → `PHONE_CALL`. `direction`
  `INBOUND` / `OUTBOUND`.
- **Times** are Unix ms: `start_timestamp`, `end_timestamp`, `created_at`, `updated_at`;
  `call_duration` is `duration_ms`.
- **Numbers** are E.164 in and out (a number that is not E.164 is a 400).
- **List.** `page` is 0-based; `limit` 1..100 (default 20); `page × limit` is capped by
  `CALLPLANE_MAX_OFFSET` (a 400 past it). `sort_by`: `start_timestamp` (calls not yet started
  sort by creation time), `end_timestamp` and `call_duration` (calls still running last),
  `call_id`, `created_at`; `sort_order` `ascending|descending` (default descending by
  start_timestamp). `filter_criteria`: `call_status`, `agent_id`, `call_type`, `direction` (each
  a list or one bare string, any of), `duration_ms` and `start_timestamp` thresholds (inclusive,
  ms), `transcript_search` (case-insensitive substring of the transcript, Korean included).
  Unknown keys are a 400 naming the allowed ones — a filter is never silently ignored.
  `applied_filters` echoes every non-empty filter as applied (a superset of the seed's example,
  which shows only `duration_ms`). `pagination` adds `total_is_estimated` (true when a
  `transcript_search` matched more than the 1,000 calls its list holds; totals are exact
  otherwise). `GET /api/calls` takes the same as query parameters (lists repeated or
  comma-separated).
- **Create.** `override_agent_id` omitted → the from_number's traffic split. callplane additions:
  `override_agent_version` (`current` default, `production`, `v<N>`), `dynamic_variables`, and an
  `Idempotency-Key` header. The answer is Zudu's documented one (`status: call_initiated`) with
  the call as it is now (`REGISTERED` until a worker dials it). A field Zudu's create does not
  define is a 400 naming it (Zudu documents no leniency). `POST /api/calls` is Zudu's list, not
  a create.
- **Detail.** Adds `updated_at`, `agent_version`, `metadata`, `dynamic_variables`, `events` (always
  empty: no event timeline is kept in this shape), `disconnection_reason`, `recording_url`,
  `opt_out_sensitive_data_storage`, `transcript` (`Agent: …` / `User: …` lines),
  `transcript_object`, `transcript_with_tool_calls` (Retell's shapes), `call_analysis`,
  `call_cost.combined_cost` (KRW minor units, 1/100 KRW), `telephony_identifier`.

Its routes (`routes.py`) are included by `api/app.py`, not imported here: importing a dialect's
renderers (as another dialect's or a worker's code does) should not load its HTTP routes.
"""
