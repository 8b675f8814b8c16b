"""The dashboard's words in Korean and English: one catalogue, looked up by key.

The language is the session's choice (the toggle), else the first of `ko`/`en` the browser's
`Accept-Language` prefers, else Korean (the product's first users). A key missing from the
catalogue is a bug; tests/web/test_i18n.py checks that every key the templates use exists in
both languages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT: Lang = "ko"

#: key → (English, Korean)
MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("callplane dashboard", "callplane 대시보드"),
    "sign_in": ("Sign in", "로그인"),
    "sign_out": ("Sign out", "로그아웃"),
    "api_key": ("Organisation API key", "조직 API 키"),
    "api_key_help": (
        "Paste a key that starts with cp_. It is checked once; the browser keeps only a session.",
        "cp_로 시작하는 키를 붙여 넣으세요. 한 번만 확인하고, 브라우저에는 세션만 남습니다.",
    ),
    "bad_key": ("That key is not valid or was revoked.", "키가 올바르지 않거나 폐기되었습니다."),
    "language": ("Language", "언어"),
    "calls": ("Calls", "통화"),
    "call": ("Call", "통화"),
    "time": ("Time", "시각"),
    "agent": ("Agent", "에이전트"),
    "from": ("From", "발신"),
    "to": ("To", "수신"),
    "status": ("Status", "상태"),
    "reason": ("Reason", "종료 사유"),
    "duration": ("Duration", "통화 시간"),
    "cost": ("Cost", "비용"),
    "sentiment": ("Sentiment", "감정"),
    "variant": ("A/B", "A/B"),
    "any": ("Any", "전체"),
    "range": ("Period", "기간"),
    "preset_today": ("Today", "오늘"),
    "preset_24h": ("Last 24 hours", "최근 24시간"),
    "preset_7d": ("Last 7 days", "최근 7일"),
    "preset_30d": ("Last 30 days", "최근 30일"),
    "preset_all": ("All time", "전체 기간"),
    "preset_custom": ("Custom", "직접 지정"),
    "since": ("From date", "시작일"),
    "until": ("To date", "종료일"),
    "type": ("Type", "유형"),
    "direction": ("Direction", "방향"),
    "min_duration": ("Min. seconds", "최소 초"),
    "max_duration": ("Max. seconds", "최대 초"),
    "metadata": ("Metadata (key=value, one a line)", "메타데이터 (키=값, 한 줄에 하나)"),
    "search": ("Transcript contains", "대화 내용 검색"),
    "filter": ("Filter", "필터 적용"),
    "reset": ("Reset", "초기화"),
    "next_page": ("Next page", "다음 페이지"),
    "first_page": ("First page", "첫 페이지"),
    "export": ("Export", "내보내기"),
    "no_calls": ("No calls match these filters.", "조건에 맞는 통화가 없습니다."),
    "live_refresh": ("Refreshing while calls are in progress", "진행 중인 통화가 있어 자동 새로고침 중"),
    "total": ("calls", "건"),
    "total_more": ("more than", "이상"),
    "identifiers": ("Identifiers", "식별자"),
    "timeline": ("Timeline", "진행 과정"),
    "created": ("Created", "생성"),
    "due": ("Due", "예정"),
    "dialled": ("Dialled", "발신 시작"),
    "answered": ("Answered", "응답"),
    "ended": ("Ended", "종료"),
    "transcript": ("Transcript", "대화 내용"),
    "no_transcript": ("No transcript.", "대화 내용이 없습니다."),
    "transcript_opted_out": (
        "This call keeps no transcript (sensitive data storage is off).",
        "이 통화는 대화 내용을 저장하지 않습니다 (민감 정보 저장 안 함).",
    ),
    "tool_call": ("Tool call", "도구 호출"),
    "tool_result": ("Tool result", "도구 결과"),
    "node_moved": ("Flow moved", "흐름 이동"),
    "analysis": ("Analysis", "분석"),
    "summary": ("Summary", "요약"),
    "successful": ("Successful", "성공 여부"),
    "voicemail": ("Voicemail", "음성사서함"),
    "yes": ("yes", "예"),
    "no": ("no", "아니요"),
    "metadata_title": ("Metadata", "메타데이터"),
    "callee": ("Callee", "고객"),
    "variables": ("Dynamic variables", "동적 변수"),
    "webhooks": ("Webhook deliveries", "웹훅 전송"),
    "no_webhooks": ("No webhook deliveries.", "웹훅 전송 기록이 없습니다."),
    "attempt": ("Attempt", "시도"),
    "response": ("Response", "응답"),
    "next_attempt": ("Next attempt", "다음 시도"),
    "redeliver": ("Redeliver", "다시 보내기"),
    "redelivered": ("The event was queued for delivery again.", "이벤트를 다시 보내도록 예약했습니다."),
    "cancel_call": ("Cancel this queued call", "대기 중인 통화 취소"),
    "end_call": ("End this call", "통화 종료"),
    "end_requested": ("Asked the worker to end the call.", "통화 종료를 요청했습니다."),
    "canceled_done": ("The call was canceled.", "통화를 취소했습니다."),
    "back": ("Back to calls", "통화 목록으로"),
    "error": ("Something is wrong", "문제가 있습니다"),
    "not_found": ("Not found", "찾을 수 없습니다"),
    "forbidden": ("Not allowed", "권한이 없습니다"),
    "error_detail": ("Error", "오류"),
    "kpi_calls": ("Calls", "통화 수"),
    "kpi_connect_rate": ("Connect rate", "연결률"),
    "kpi_avg_talk": ("Avg. talk time", "평균 통화 시간"),
    "kpi_cost": ("Cost", "비용"),
    "times_in": ("Times in", "시간대"),
    "analytics": ("Analytics", "분석"),
    "operator": ("Operator: organisations", "운영자: 조직"),
    "organizations": ("Organisations", "조직"),
    "live_calls": ("Live calls", "진행 중 통화"),
    "due_calls": ("Due, queued", "발신 대기"),
    "recording_hint": (
        "Click a line of the conversation, or the waveform, to play the recording from there.",
        "대화의 한 줄이나 파형을 누르면 그 부분부터 녹음을 재생합니다.",
    ),
    "waveform": (
        "Waveform of the recording (agent above, callee below)",
        "녹음 파형 (위: 에이전트, 아래: 상대)",
    ),
    "campaigns": ("Campaigns", "캠페인"),
    "new_campaign": ("New campaign from CSV", "CSV로 새 캠페인"),
    "no_campaigns": ("No campaigns yet.", "아직 캠페인이 없습니다."),
    "name": ("Name", "이름"),
    "tasks_total": ("Tasks", "전체"),
    "tasks_completed": ("Completed", "완료"),
    "tasks_failed": ("Failed", "실패"),
    "tasks_in_progress": ("In progress", "진행 중"),
    "tasks_remaining": ("Remaining", "남음"),
    "traffic_split": ("The number's traffic split", "번호의 트래픽 분배"),
    "concurrency": ("Concurrency", "동시 통화"),
    "attempts": ("Attempts", "시도 횟수"),
    "window_start": ("Window opens", "발신 시작 시각"),
    "window_end": ("Window closes", "발신 종료 시각"),
    "csv": ("Callee list (CSV)", "수신자 목록 (CSV)"),
    "csv_help": (
        "Header row first: to_number, then a column per dynamic variable; meta.<key> columns go to metadata.",
        "첫 줄은 머리글입니다: to_number, 그리고 동적 변수마다 한 열; meta.<키> 열은 메타데이터가 됩니다.",
    ),
    "check_rows": ("Check rows", "행 검사"),
    "create_campaign": ("Create with {n} rows", "{n}개 행으로 생성"),
    "dry_run": ("Check (nothing created yet)", "검사 결과 (아직 생성되지 않음)"),
    "rows_summary": (
        "{accepted} rows accepted, {rejected} rejected.",
        "{accepted}개 행 통과, {rejected}개 거부.",
    ),
    "line": ("Line", "줄"),
    "field": ("Field", "항목"),
    "problem": ("Problem", "문제"),
    "task_results": ("Per-task results", "작업별 결과"),
    "campaign_pause": ("Pause", "일시 중지"),
    "campaign_resume": ("Resume", "재개"),
    "campaign_cancel": ("Cancel campaign", "캠페인 취소"),
    "campaign.draft": ("draft", "초안"),
    "campaign.pending": ("pending", "시작 전"),
    "campaign.ongoing": ("ongoing", "진행 중"),
    "campaign.paused": ("paused", "일시 중지"),
    "campaign.success": ("finished", "완료"),
    "campaign.fail": ("failed", "실패"),
    "campaign.canceled": ("canceled", "취소"),
    "task.pending": ("pending", "대기"),
    "task.calling": ("calling", "통화 중"),
    "task.completed": ("completed", "완료"),
    "task.failed": ("failed", "실패"),
    "task.canceled": ("canceled", "취소"),
    "admin": ("Settings", "설정"),
    "admin_org": ("Organisation", "조직"),
    "admin_agents": ("Agents", "에이전트"),
    "admin_suppressions": ("Do-not-call list", "수신 거부 목록"),
    "admin_webhooks": ("Webhooks", "웹훅"),
    "admin_keys": ("API keys", "API 키"),
    "calling_window": ("Calling window", "발신 가능 시간"),
    "limits": ("Limits", "한도"),
    "operator_sets": (
        "Set by the operator; read-only here.",
        "운영자가 설정합니다. 여기서는 볼 수만 있습니다.",
    ),
    "weekdays": ("Weekdays (1 = Monday)", "요일 (1 = 월요일)"),
    "max_concurrent": ("Concurrent calls", "동시 통화 한도"),
    "hourly_cap": ("Calls per hour", "시간당 발신 한도"),
    "daily_cap": ("Calls per day", "일일 발신 한도"),
    "postpaid": ("postpaid", "후불"),
    "rate": ("Rate per minute", "분당 요금"),
    "numbers": ("Numbers", "발신 번호"),
    "numbers_assigned": ("Numbers are assigned by the operator.", "번호는 운영자가 배정합니다."),
    "presentation_numbers": ("Caller IDs", "표시 번호"),
    "approved": ("approved", "승인됨"),
    "requested": ("requested", "요청됨"),
    "request_number": ("Request a caller ID", "표시 번호 요청"),
    "request": ("Request", "요청"),
    "traffic_splits": ("Traffic splits", "트래픽 분배"),
    "inactive": ("inactive", "비활성"),
    "weight": ("Weight", "비중"),
    "version": ("Version", "버전"),
    "production": ("production", "운영"),
    "current": ("current", "최신"),
    "publish": ("Publish", "배포"),
    "rehearse": ("Rehearse", "리허설"),
    "rehearse_help": (
        "Runs the version on the simulated line: no call is placed and nothing is stored. "
        "The callee's number picks the simulator's scenario.",
        "시뮬레이션 회선에서 이 버전을 실행합니다. 실제 전화는 걸리지 않고 아무것도 저장되지 않습니다. "
        "수신 번호에 따라 시뮬레이터의 시나리오가 정해집니다.",
    ),
    "rehearse_run": ("Run on the simulated line", "시뮬레이션 실행"),
    "collected": ("Collected", "수집한 값"),
    "suppress_numbers": (
        "Numbers, one a line (optionally followed by ,reason)",
        "번호, 한 줄에 하나 (뒤에 ,사유 추가 가능)",
    ),
    "suppress_reason": ("Why (optional)", "사유 (선택)"),
    "suppress_why": ("Reason", "사유"),
    "suppress_import": ("Add to the list", "목록에 추가"),
    "suppress_added": ("{n} numbers added.", "{n}개 번호를 추가했습니다."),
    "remove": ("Remove", "삭제"),
    "events": ("Events", "이벤트"),
    "enabled": ("enabled", "사용"),
    "disabled": ("disabled", "중지됨"),
    "description": ("Description", "설명"),
    "add_endpoint": ("Add endpoint", "엔드포인트 추가"),
    "secret_once": (
        "The endpoint's signing secret, shown only now:",
        "엔드포인트 서명 비밀값입니다. 지금만 표시됩니다:",
    ),
    "delivery_log": ("Delivery log", "전송 기록"),
    "key_once": ("The new key, shown only now — copy it:", "새 키입니다. 지금만 표시되니 복사하세요:"),
    "key_prefix": ("Key", "키"),
    "scopes": ("Scopes", "권한"),
    "last_used": ("Last used", "마지막 사용"),
    "revoked": ("revoked", "폐기됨"),
    "revoke": ("Revoke", "폐기"),
    "this_session": ("this session", "현재 세션"),
    "issue_key": ("Create key", "키 만들기"),
    "why_waiting": ("Why it is still waiting", "아직 대기 중인 이유"),
    "wait_not_due": ("Not due until {when}.", "{when}까지는 예정 시각이 아닙니다."),
    "wait_window": (
        "The calling window is closed until {when}.",
        "발신 가능 시간이 아닙니다. {when}에 열립니다.",
    ),
    "wait_campaign_window": (
        "The campaign's calling window is closed until {when}.",
        "캠페인 발신 시간이 아닙니다. {when}에 열립니다.",
    ),
    "wait_campaign_held": ("Its campaign is paused.", "캠페인이 일시 중지되었습니다."),
    "wait_slots": (
        "All call slots are in use: {live}/{max}.",
        "동시 통화 한도를 모두 쓰고 있습니다: {live}/{max}.",
    ),
    "wait_balance": (
        "The balance {balance} is held for {live} live calls (a next call needs {need}).",
        "잔액 {balance}이(가) 진행 중인 통화 {live}건에 묶여 있습니다 (다음 통화에 {need} 필요).",
    ),
    "wait_refuse": (
        "It will not be dialled: {reason} — {detail}",
        "발신되지 않습니다: {reason} — {detail}",
    ),
    "wait_dial": (
        "Due now: the next dispatcher pass dials it.",
        "지금 발신 대상입니다: 다음 배차에서 발신합니다.",
    ),
    "fig_slots": ("Live calls / limit", "진행 중 통화 / 한도"),
    "fig_hourly": ("Dialled in the last hour / cap", "최근 1시간 발신 / 한도"),
    "fig_daily": ("Dialled today / cap", "오늘 발신 / 한도"),
    "fig_balance": ("Balance", "잔액"),
    "calls_of_period": ("These calls in the list", "이 조건의 통화 목록"),
    "chart_volume_hour": ("Calls per hour by status", "시간별 통화 수 (상태별)"),
    "chart_volume_day": ("Calls per day by status", "일별 통화 수 (상태별)"),
    "chart_cost_hour": ("Cost per hour", "시간별 비용"),
    "chart_cost_day": ("Cost per day", "일별 비용"),
    "chart_reasons": ("Disconnection reasons", "종료 사유"),
    "chart_sentiment": ("Callee sentiment", "고객 감정"),
    "by_agent": ("Per agent", "에이전트별"),
    "by_variant": ("Per A/B variant", "A/B 변형별"),
    "scopes_missing_calls": (
        "This key cannot read calls (it lacks calls:read).",
        "이 키로는 통화를 볼 수 없습니다 (calls:read 권한 없음).",
    ),
    # Vocabularies: status, reason, sentiment values are looked up as `<kind>.<value>`.
    "status.queued": ("queued", "대기"),
    "status.dialing": ("dialing", "발신 중"),
    "status.ringing": ("ringing", "연결 중"),
    "status.ongoing": ("ongoing", "통화 중"),
    "status.ended": ("ended", "종료"),
    "status.not_connected": ("not connected", "미연결"),
    "status.error": ("error", "오류"),
    "status.canceled": ("canceled", "취소"),
    "sentiment.positive": ("positive", "긍정"),
    "sentiment.neutral": ("neutral", "중립"),
    "sentiment.negative": ("negative", "부정"),
    "sentiment.unknown": ("unknown", "알 수 없음"),
    "direction.outbound": ("outbound", "발신"),
    "direction.inbound": ("inbound", "수신"),
    "reason.user_hangup": ("callee hung up", "상대방이 끊음"),
    "reason.agent_hangup": ("agent hung up", "에이전트가 끊음"),
    "reason.dial_no_answer": ("no answer", "응답 없음"),
    "reason.dial_failed": ("dial failed", "발신 실패"),
    "reason.dial_busy": ("busy", "통화 중 신호"),
    "reason.voicemail_reached": ("voicemail", "음성사서함 연결"),
    "reason.concurrency_limit_reached": ("concurrency limit", "동시 통화 한도"),
    "reason.insufficient_balance": ("balance used up", "잔액 부족"),
    "reason.error_voxai": ("platform error", "플랫폼 오류"),
    "reason.max_duration_reached": ("max. duration", "최대 통화 시간 도달"),
    "reason.inactivity": ("silence", "무응답"),
    "reason.flow_error": ("flow error", "흐름 오류"),
    "reason.call_transfer": ("transferred", "호 전환"),
    "reason.orphaned_no_agent_pickup": ("worker lost", "워커 중단"),
    "reason.dial_declined": ("declined", "수신 거부"),
    "reason.daily_call_limit_reached": ("daily cap", "일일 한도"),
    "reason.hourly_call_limit_reached": ("hourly cap", "시간당 한도"),
    "reason.suppressed": ("do-not-call list", "수신 거부 목록"),
    "reason.canceled_by_user": ("canceled", "사용자 취소"),
}


def choose_language(accept_language: str) -> Lang:
    """The first of our languages in the header's preference order (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:  # q=0 (or unreadable) means "not this one"
            ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    ours: dict[str, Lang] = {lang: lang for lang in LANGS}
    for _, _, primary in sorted(ranked):
        if primary in ours:
            return ours[primary]
    return DEFAULT


def translator(lang: Lang) -> Callable[[str], str]:
    column = 0 if lang == "en" else 1

    def t(key: str) -> str:
        return MESSAGES[key][column]

    return t
