"""Phrase templates for generated transcripts: Korean and mixed Korean/English call-centre talk.

Four words are search targets with known rates, so each is confined to its own place:
`예약` only in the appointment topic, `주문번호` only in the order topic, `누수` and `리콜대상` only
in the two rare inserts. No other template, name or slot value contains them (checked by
`bench.gen.check_targets`).
"""

from __future__ import annotations

GREETINGS = [
    "안녕하세요, {company} 상담원 {agent}입니다. 무엇을 도와드릴까요?",
    "네, 안녕하세요. {company} 고객센터입니다.",
    "안녕하세요 {name} 고객님, {company}에서 연락드렸습니다. 잠시 통화 괜찮으세요?",
    "Hello, {company} AI 상담원입니다. 편하게 말씀해 주세요.",
]
CLOSINGS = [
    "더 궁금하신 점 있으시면 언제든 연락 주세요. 감사합니다.",
    "오늘 통화 감사드립니다. 좋은 하루 보내세요!",
    "네, 안내 문자 바로 보내드리겠습니다. 감사합니다.",
    "카카오톡으로 link 보내드릴게요. 확인 부탁드립니다.",
    "이용해 주셔서 감사합니다. Have a nice day!",
]
FILLERS_AGENT = [
    "네, 확인해 보겠습니다. 잠시만 기다려 주세요.",
    "말씀하신 내용 정리해 드리면, {date} {time} 기준으로 처리됩니다.",
    "본인 확인을 위해 성함과 생년월일 말씀 부탁드립니다.",
    "네 고객님, 확인되었습니다.",
    "혹시 다른 문의 사항도 있으실까요?",
    "해당 내용은 담당 부서로 전달해 드리겠습니다.",
    "처리까지 영업일 기준 2~3일 정도 소요됩니다.",
    "문자로 안내드린 URL에서도 확인 가능하세요.",
]
FILLERS_USER = [
    "네, 맞아요.",
    "아 그렇군요. 알겠습니다.",
    "{name}이고요, 생년월일은 {birth}입니다.",
    "잠시만요, 다시 한 번 말씀해 주시겠어요?",
    "네네, OK입니다.",
    "그럼 그렇게 해 주세요.",
    "아니요, 그건 괜찮아요.",
    "혹시 오늘 안에 처리될까요?",
]
TOPICS: dict[str, dict[str, list[str]]] = {
    # `예약` appears in every call of this topic and nowhere else.
    "appointment": {
        "user": [
            "{date}에 진료 예약을 하고 싶은데요.",
            "예약 시간을 {time}으로 바꿀 수 있을까요?",
            "지난번 예약 확인하려고 전화했어요.",
            "주말에도 방문 가능한가요?",
            "{branch} 지점으로 부탁드려요.",
        ],
        "agent": [
            "네, {date} {time}에 예약 도와드리겠습니다.",
            "{branch} 지점 {time} 예약 가능하십니다.",
            "예약 변경 완료되었습니다. 방문 전날 알림 드릴게요.",
            "담당 선생님은 {agent} 선생님이십니다.",
            "방문하실 때 신분증 지참 부탁드립니다.",
        ],
    },
    # `주문번호` appears in every call of this topic and nowhere else.
    "order": {
        "user": [
            "주문번호는 {order}입니다.",
            "배송이 아직 안 와서요. 언제쯤 도착할까요?",
            "주문한 {product} 색상을 바꾸고 싶어요.",
            "택배 tracking 번호 좀 알려주세요.",
            "반품 접수하고 싶은데요.",
        ],
        "agent": [
            "주문번호 {order} 확인되었습니다.",
            "{product} 상품은 {date} 출고 예정입니다.",
            "배송 기사님께서 {time}쯤 방문 예정이세요.",
            "반품 회수는 {date}에 진행됩니다.",
            "교환 신청 완료되었습니다. 추가 비용은 없습니다.",
        ],
    },
    "payment": {
        "user": [
            "이번 달 결제 금액이 {amount}원으로 나왔는데 맞나요?",
            "카드 결제일을 변경하고 싶어요.",
            "자동이체 해지하려고요.",
            "refund 언제 들어오나요?",
            "영수증 email로 받을 수 있을까요?",
        ],
        "agent": [
            "확인 결과 {amount}원 청구되었습니다.",
            "결제일은 매월 {day}일로 변경되었습니다.",
            "환불 금액 {amount}원은 {date}까지 입금됩니다.",
            "미납 금액이 {amount}원 있으십니다.",
            "영수증은 등록하신 email 주소로 발송해 드렸습니다.",
        ],
    },
    "support": {
        "user": [
            "인터넷이 자꾸 끊겨요. Wi-Fi 신호가 약해요.",
            "{product} 전원이 안 켜져요.",
            "AS 접수하려고 전화했습니다.",
            "앱 login이 안 돼요. 비밀번호를 잊어버렸어요.",
            "에어컨에서 물이 떨어져요.",
        ],
        "agent": [
            "공유기 전원을 껐다가 30초 후에 다시 켜 주시겠어요?",
            "기사님 방문 일정은 {date} {time}입니다.",
            "비밀번호 재설정 link를 문자로 보내드렸습니다.",
            "접수번호는 {ticket}입니다.",
            "무상 보증 기간이 남아 있어서 비용은 없으십니다.",
        ],
    },
    "outbound": {
        "user": [
            "무슨 일로 전화하셨어요?",
            "지금은 좀 바빠서요, 나중에 다시 전화 주세요.",
            "혜택 내용을 문자로 보내 주세요.",
            "관심 없습니다.",
            "그 요금제 한 달에 얼마예요?",
        ],
        "agent": [
            "{name} 고객님께 {campaign} 혜택 안내드리려고 연락드렸습니다.",
            "이번 달 가입하시면 {amount}원 할인 혜택이 있습니다.",
            "고객님 통신 요금을 월 {amount}원 절약하실 수 있어요.",
            "수신 거부를 원하시면 말씀해 주세요.",
            "자세한 내용은 문자로 안내드리겠습니다.",
        ],
    },
    "survey": {
        "user": [
            "네, 만족했어요.",
            "상담원분이 친절하셨어요.",
            "대기 시간이 조금 길었어요.",
            "점수는 {score}점 드릴게요.",
            "앱 UI가 좀 불편했어요.",
        ],
        "agent": [
            "지난 {date} 상담에 대해 간단한 설문 부탁드려도 될까요?",
            "1점부터 5점 중 몇 점 주시겠어요?",
            "소중한 의견 감사합니다. 서비스 개선에 반영하겠습니다.",
            "마지막으로 추천 의향이 있으신가요?",
            "설문 참여 감사 쿠폰을 보내드리겠습니다.",
        ],
    },
}
#: Share of transcribed calls per topic: appointment and order set the common targets' rates.
TOPIC_WEIGHTS = {
    "appointment": 0.271,  # x 0.885 transcribed ≈ 24% of all calls contain 예약
    "order": 0.237,  # ≈ 21% contain 주문번호
    "payment": 0.15,
    "support": 0.17,
    "outbound": 0.10,
    "survey": 0.072,
}
RARE_2 = "욕실 천장에서 누수가 생긴 것 같아요."  # `누수`: 0.1% of all calls
RARE_4 = "제 차가 리콜대상인지 확인해 주세요."  # `리콜대상`: 0.05% of all calls
RATE_RARE_2 = 0.001
RATE_RARE_4 = 0.0005

COMPANIES = ["한빛통신", "바른병원", "새벽마켓", "미래카드", "늘봄전자", "온누리보험", "CleanHome", "K-Mart"]
AGENT_NAMES = ["김지연", "이서준", "박민지", "최현우", "정하은", "강도윤", "조예린", "윤성민"]
NAMES = ["홍길동", "김영희", "이철민", "박소연", "최준호", "정미경", "한지민", "오세훈", "서다인", "John Kim"]
BRANCHES = ["강남", "분당", "해운대", "광화문", "일산", "수원역"]
PRODUCTS = ["무선 청소기", "냉장고", "Galaxy 케이스", "운동화", "전기밥솥", "노트북", "iPad 충전기"]
CAMPAIGNS = ["가을맞이", "신규가입", "VIP", "재약정", "Family플랜"]
