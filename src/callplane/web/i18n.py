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
