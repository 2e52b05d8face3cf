"""Tests for ivr.safety: the built-in lexicon, a plan's own phrases on top, the learned net and
the guard's decisions in priority order, on the real e5 embeddings and the shipped head."""

from __future__ import annotations

import pytest
import yaml

from ivr.dialplan.model import BUILTIN_GROUPS, Escalation
from ivr.kb.embedder import CachingEmbedder, E5Embedder
from ivr.safety.check import safety_answer
from ivr.safety.denial import without_denials
from ivr.safety.guard import EscalationGuard
from ivr.safety.inquiry import asks_for_information
from ivr.safety.warning import warning_sign
from ivr.safety.ngrams import BUCKETS, features
from ivr.safety.lexicon import LEXICON_DIR, builtin_lexicon, compile_rules, effective_phrases
from ivr.safety.not_angry import says_not_angry
from ivr.safety.past import from_the_media, placed_in_past
from ivr.safety.semantic import NET_CLASSES, SemanticNet, load_head
from ivr.safety.train import read_training, training_sha256


@pytest.fixture(scope="module")
def net() -> SemanticNet:
    return SemanticNet(CachingEmbedder(E5Embedder()))


@pytest.fixture()
def guard(net) -> EscalationGuard:
    return EscalationGuard(net)


BUILTIN = compile_rules(Escalation())
LEXICON_ONLY = compile_rules(Escalation(semantic=False))


def test_builtin_lexicon_is_data_with_every_group_in_both_languages() -> None:
    lexicon = builtin_lexicon()
    assert set(lexicon) >= {"en", "zh"}
    for language in ("en", "zh"):
        groups = {f"{cls}.{g}" for cls, gs in lexicon[language]["classes"].items() for g in gs}
        assert groups == set(BUILTIN_GROUPS), language
    for path in LEXICON_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for cls, groups in data["classes"].items():
            for group, phrases in groups.items():
                assert phrases and all(isinstance(p, str) and p.strip() for p in phrases), group


@pytest.mark.parametrize("text,asks", [
    ("那个…我就是想找个客服聊一下话费的事", True),      # 找客服 with a measure word between
    ("麻烦帮我转个人工", True),
    ("笔记本换了主板还是开不了机，想找售后的师傅直接聊聊", True),
    ("you're not getting it, is there someone i can explain this to", True),
    ("i need a technician on the line, the array won't come back", True),
    ("is there a fault on the line", False),
    ("售后电话是多少", False),                           # the after-sales number is no request
    ("这个月的话费怎么多了二十块", False),
])
def test_requests_for_a_person_read_off_dev_17(text, asks) -> None:
    """Dev 17's missed requests (2026-12-06): a measure word (个) costs half, as a filler does."""
    verdict = EscalationGuard(None).human(BUILTIN, text)   # the lexicon alone
    assert (verdict is not None and verdict.kind == "human") is asks, (text, verdict)


@pytest.mark.parametrize("text,asks", [
    ("帮我转到宽带那边的专员", True),                  # 专员 alone, as 经理 and 主管
    ("专员能直接跟我说吗", True),
    ("这个专线怎么收费", False),
])
def test_a_specialist_is_a_person_read_off_dev_18(text, asks) -> None:
    verdict = EscalationGuard(None).human(BUILTIN, text)   # the lexicon alone
    assert (verdict is not None and verdict.kind == "human") is asks, (text, verdict)


@pytest.mark.parametrize("text,asks", [
    ("i'm going to need an actual engineer, this array is beyond me", True),
    ("honestly i just want someone real to help me block the phone", True),
    ("能不能帮我转接到收费处", True),
    ("你直接把我转到售后那边去", True),
    ("按什么都没用 给我接个客服人员", True),          # 没用: the keys were no use, no decline
    ("你们部门的人能不能跟我说一下", True),
    ("我不用转人工了", False),
    ("怎么设置呼叫转接到另一个号码", False),
    ("my account's managed by my son, i need to add him as a contact", False),
    ("前台几点下班", False),                          # staff's hours asked for, no one asked for
    ("护士站的地址是哪里", False),
    ("帮我转前台", True),
    ("上点心吧 我转网都半个月了", False),              # 吧我转 sounds like 把我转: porting out
    ("被转来转去转了一上午", False),                  # 转了一下 is no 转接
    ("我要找个 manager 聊聊这个账单", True),           # English role words in a Chinese turn
    ("帮我转 sales 那边", True),
    ("engineer 上次来修过 没修好", False),
])
def test_requests_for_a_person_read_off_dev_19(text, asks) -> None:
    verdict = EscalationGuard(None).human(compile_rules(Escalation(
        semantic=False, human_phrases={"zh": ["护士站"]})), text)   # the clinic's lexicon alone
    assert (verdict is not None and verdict.kind == "human") is asks, (text, verdict)


@pytest.mark.parametrize("text,hostile,frustrated", [
    ("信不信我把录音发到网上", True, False),           # "believe it or not, I'll...": a threat
    ("信不信由你，这个套餐最便宜", False, False),
    ("到底能不能给个准话", False, True),
    ("能给个准确的到货时间吗", False, False),
])
def test_threats_and_frustration_read_off_dev_19(text, hostile, frustrated) -> None:
    _, evidence = EscalationGuard(None).word_anger(BUILTIN, text)
    assert ("hostile_words" in evidence) is hostile, evidence
    assert ("frustration_words" in evidence) is frustrated, evidence


@pytest.mark.xfail(strict=True, reason="the net scores this 4-word calm fragment 0.665 self-harm "
                   "(whisper tiny.en's reading of a paused \"I'm fed up,\" on an AVX2 machine)")
def test_a_short_calm_fragment_is_not_self_harm(guard) -> None:
    assert guard.assess(BUILTIN, "I am set up.").kind == "calm"


@pytest.mark.parametrize("text,says", [
    ("i'm not angry or anything, i just want to know where to send it", True),
    ("I am really not upset, just confused", True),
    ("我不是生气，就是想问一下", True),
    ("我没生气啊", True),
    ("i'm not paying this, i'm angry", False),
    ("你们不是生气的问题，是太坑了", False),
])
def test_callers_who_say_they_are_not_angry(text, says) -> None:
    assert says_not_angry(text) is says


def test_the_nets_anger_alone_is_overruled_by_a_caller_not_angry(guard) -> None:
    text = "我不是生气，就想问问多扣的钱找谁投诉"
    _, evidence = guard.word_anger(BUILTIN, text)
    assert "net_angry" not in evidence and "hostile_words" not in evidence, evidence
    _, evidence = guard.word_anger(BUILTIN, text.replace("我不是生气，", ""))
    assert "net_angry" in evidence, evidence     # the denial, not the question, settles it


@pytest.mark.parametrize("text,asks", [
    ("你们的人工客服几点上班啊", False),
    ("人工客服周末休息吗", False),
    ("人工客服在哪 我要转人工", True),
])
def test_staff_asked_about_in_a_plain_question_are_no_request_even_to_the_net(
        guard, text, asks) -> None:
    verdict = guard.human(BUILTIN, text)
    assert (verdict is not None) is asks, (verdict, guard.overruled)


@pytest.mark.parametrize("text,hostile", [
    ("有病吧你们，电话打了八遍", True),
    ("我是不是有病吧，最近老是失眠", False),          # asking about one's own health
    # asking how to complain asks for a procedure
    ("how do i make a complaint about my last bill", False),
    ("hi, how to file a complaint about an engineer visit", False),
    ("请问在哪投诉，上个月扣错了十块钱", False),
    ("i'm going to file a formal complaint", True),
    ("how dare you, i'm filing a complaint", True),
    ("我要投诉你们，投诉电话是多少", True),        # the first 投诉 is the caller's own
    ("they stabbed me with two needles for the jabs", False),   # "stabbed" sounds like "scammed"
])
def test_hostile_words_read_off_dev_18(text, hostile) -> None:
    _, evidence = EscalationGuard(None).word_anger(BUILTIN, text)
    assert ("hostile_words" in evidence) is hostile, evidence


@pytest.mark.parametrize("text,kind", [
    ("I'm killing myself tonight", "self_harm"), ("I killed myself? no. I want to kill myself", "self_harm"),
    ("there's a pain in my chest", "emergency"), ("my wife can't breathe", "emergency"),
    ("我想自杀", "self_harm"), ("我爸爸胸口痛", "emergency"), ("家里着火了", "emergency"),
    ("呼吸困難", "emergency"),
    ("been having sue side thoughts all week and they're getting louder", "self_harm"),  # ASR
])
def test_builtin_lexicon_catches_inflections_and_both_languages(guard, text, kind) -> None:
    verdict = guard.urgent(LEXICON_ONLY, text)
    assert verdict is not None and verdict.kind == kind and verdict.evidence["net"] == "lexicon"


@pytest.mark.parametrize("text", [
    "my Fire tablet won't charge", "how do I kill the noise on the line", "my battery is dying fast",
    "我想了解人工智能套餐", "人工耳蜗的复诊怎么约", "附近有火锅店吗", "it's 135 4444 5555",
    "I'm calling from the ambulance station about our fleet contract"])
def test_hard_negatives_are_calm(guard, text) -> None:
    assert guard.urgent(BUILTIN, text) is None and guard.human(BUILTIN, text) is None


def test_a_human_being_is_a_person_not_an_exclusion(guard) -> None:
    verdict = guard.human(BUILTIN, "I want to talk to a human being please")
    assert verdict is not None and verdict.kind == "human"
    assert guard.human(LEXICON_ONLY, "human resources told me to call") is None


@pytest.mark.parametrize("text,asks", [
    ("person", True), ("Someone, please.", True), ("um, I want a person", True), ("找人", True),
    ("我要人", True), ("in person", False), ("someone took my phone", False), ("one", False),
    ("有人吗", False), ("staff discount", False), ("for someone else", False),
    ("我要客服", True), ("麻烦转接一下", True), ("客服电话是多少", False), ("the manager please", True),
    ("my manager", False),
])
def test_a_bare_person_word_as_the_whole_turn_is_a_request(text, asks) -> None:
    """"Person." alone is a request; inside a turn the word is an ordinary word."""
    verdict = EscalationGuard(None).human(BUILTIN, text)   # the lexicon alone
    assert (verdict is not None) is asks, verdict
    off = compile_rules(Escalation(semantic=False, builtin_off=["human.request"]))
    assert EscalationGuard(None).human(off, text) is None


@pytest.mark.parametrize("text,asks", [
    ("does my plan work with other operators when I'm abroad", False),   # carriers
    ("can I get the operator logs for the tape library", False),
    ("can I speak to an operator", True),
    ("operator please", True),
])
def test_an_operator_that_is_a_carrier_or_a_log_is_no_request(text, asks) -> None:
    verdict = EscalationGuard(None).human(BUILTIN, text)   # the lexicon alone
    assert (verdict is not None) is asks, verdict


@pytest.mark.parametrize("text", ["hello? hello, is this a recording, can someone pick up",
                                  "is anybody there? I've been holding for ages",
                                  "will somebody pick up please"])
def test_asking_whether_anyone_is_there_is_a_request_for_a_person(guard, text) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "human" and verdict.evidence["net"] == "lexicon", verdict


@pytest.mark.parametrize("text", ["化验单上的数字我看不懂，我想直接跟护士说。",
                                  "麻烦让值班医生亲自跟我说一下这个结果。"])
def test_asking_to_speak_with_the_nurse_or_doctor_is_a_request_for_a_person(text) -> None:
    verdict = EscalationGuard(None).human(BUILTIN, text)   # the lexicon alone
    assert verdict is not None and verdict.kind == "human", text
    assert EscalationGuard(None).human(BUILTIN, "护士说没事，我再确认一下要不要热敷。") is None


def test_plan_phrases_add_to_the_builtins_and_groups_can_be_switched_off(guard) -> None:
    text = "the flux capacitor is leaking plasma"
    assert guard.urgent(LEXICON_ONLY, text) is None
    own = compile_rules(Escalation(semantic=False,
                                   emergency_phrases={"en": ["flux capacitor leaking"]}))
    assert guard.urgent(own, text).evidence["phrase"] == "flux capacitor leaking"
    assert guard.urgent(own, "my house is on fire") is not None      # built-ins still there
    off = compile_rules(Escalation(semantic=False, builtin_off=["emergency.fire"]))
    assert guard.urgent(off, "my house is on fire") is None
    phrases, _ = effective_phrases(Escalation(builtin_off=["emergency.fire"]))["emergency"]
    fire = builtin_lexicon()["en"]["classes"]["emergency"]["fire"]
    assert not set(fire) & set(phrases["en"])


@pytest.mark.parametrize("text,kind", [
    ("dad's lips are blue and he's gasping", "emergency"),
    ("a man is smashing my window with a bat", "emergency"),
    ("the carbon monoxide alarm won't stop and I feel dizzy", "emergency"),
    ("I don't see any reason to keep going anymore", "self_harm"),
    ("活着真的没什么意思了", "self_harm"),
    ("我儿子把一瓶洗衣液喝下去了", "emergency"),
])
def test_the_learned_net_hears_described_emergencies(guard, text, kind) -> None:
    verdict = guard.urgent(BUILTIN, text)
    assert verdict is not None and verdict.kind == kind, text


def test_interim_text_needs_complete_evidence(guard) -> None:
    assert guard.urgent(LEXICON_ONLY, "I can't brea", partial=True) is None
    assert guard.urgent(LEXICON_ONLY, "I can't breathe and my", partial=True) is not None


@pytest.mark.parametrize("text", ["我想开药", "我想拿药", "我要开药", "我想续开一下上次的药",
                                  "I need more of my tablets", "I want my pills refilled"])
def test_asking_for_medicine_is_no_overdose(guard, text) -> None:
    # everyday at a clinic; the net once heard "I want ... medicine" as self-harm (0.5-0.69)
    assert guard.urgent(BUILTIN, text) is None


PLACE_GAP = pytest.mark.xfail(strict=True, reason=(
    "known gap: the net over e5 embeddings hears the place, not the purpose (0.46-0.79 urgent); "
    "621 turns of such talk (training/candidates/places.tsv) fixed 3 of 11 probes and left the "
    "dev sets unchanged; training on dev set 9 fixed the first two here, on dev sets 11, 12 and "
    "14 with calm objects dropped from heights and into water (training/train_calm11.tsv) the "
    "phone in the river and off the balcony; the n-gram voice fixed the phone stolen on the "
    "underground and brought back the bus and the river (urgent bar 0.538 -> 0.456)"))


@pytest.mark.parametrize("text", [
    "I want to jump to the unlimited plan", "我的手机从阳台上掉下去了", "我坐地铁的时候手机被偷了",
    *(pytest.param(text, marks=PLACE_GAP) for text in (
        "i think i left my phone on the bus", "my phone fell into the river while I was fishing",
        "I'm standing on a bridge and I have no signal",
        "I'm on the roof of my building trying to get signal",
        "我把手机落在公交车上了"))])
def test_a_place_of_danger_in_a_routine_request_is_no_emergency(guard, text) -> None:
    # all day on a phone line, and each is sent to emergency help
    assert guard.urgent(BUILTIN, text) is None


@pytest.mark.parametrize("text", ["honestly I won't be alive by the end of the month anyway",
                                  "I just want to disappear for good",
                                  "I keep thinking about stepping in front of a train",
                                  "我没有以后了，这个号码也不用留了", "反正明年就没我这个人了"])
def test_indirect_self_harm_the_lexicon_knows(guard, text) -> None:
    # the lexicon itself, not only the net: on dev9 the net scored such turns near 0 (before it became training data)
    match = BUILTIN.matchers["self_harm"].find(text)
    assert match is not None and match.complete, match
    verdict = guard.urgent(BUILTIN, text)
    assert verdict is not None and verdict.kind == "self_harm", verdict


@pytest.mark.parametrize("text,kind", [("我妈刚才突然说不上话了，嘴也有点歪", "emergency"),
                                       ("楼道里一股臭鸡蛋味，越来越浓", "emergency"),
                                       ("the whole flat smells like rotten eggs and I feel dizzy",
                                        "emergency"),
                                       ("遗言我已经写好了，号码帮我停了吧", "self_harm")])
def test_described_danger_the_lexicon_knows(guard, text, kind) -> None:
    # read off dev 12's misses: a stroke told by its signs, gas by its smell, last words
    match = BUILTIN.matchers[kind].find(text)
    assert match is not None and match.complete, match
    verdict = guard.urgent(BUILTIN, text)
    assert verdict is not None and verdict.kind == kind, verdict


def test_speechless_with_anger_is_no_stroke(guard) -> None:
    assert BUILTIN.matchers["emergency"].find("你们这服务气得我说不出话") is None


@pytest.mark.parametrize("text", ["I'm standing on the bridge and I'm going to jump",
                                  "my son just fell onto the train tracks and he isn't moving",
                                  "我站在楼顶上，不想活了"])
def test_the_same_places_in_danger_are_urgent(guard, text) -> None:
    assert guard.urgent(BUILTIN, text) is not None


@pytest.mark.parametrize("text", ["气死我了！药开错了你们还不认！", "这合同我马上解约，再也不用你们家的了",
                                  "你们挂号系统就是个摆设", "who the hell signed me up to this"])
def test_hostile_chinese_idioms_and_who_the_hell_are_anger(guard, text) -> None:
    assert guard.assess(BUILTIN, text).kind == "angry"


@pytest.mark.parametrize("text", ["You stupid useless machine!",
                                  "This is a scam, I want my money back!",
                                  "I'm sick of your useless service",
                                  "你们就是一群骗子，把钱退给我"])
def test_one_hostile_turn_escalates(guard, text) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "angry" and verdict.escalate, verdict
    assert verdict.evidence["trigger"] == "hostile_turn"


@pytest.mark.parametrize("text", ["滚", "滚！", "get stuffed", "你们到底有没有脑子？！", "闭嘴听我说",
                                  "我他妈说了多少遍了是账单问题", "天天说系统升级，升你个头啊"])
def test_short_and_idiomatic_hostility_is_a_hostile_turn(guard, text) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "angry" and "hostile_words" in verdict.evidence, verdict


@pytest.mark.parametrize("text,hostile", [
    ("棍开", True), ("棍开。", True), ("棍出去！", True),   # whisper's homophones of 滚开, 滚出去
    ("棍", False), ("关开", False), ("滚动", False),     # one syllable, another sound, a word
])
def test_a_whole_turn_is_heard_by_its_sound(text, hostile) -> None:
    assert (BUILTIN.whole_turn("anger", text) is not None) is hostile


@pytest.mark.parametrize("text", ["页面滚动不了", "他妈妈住院了，我想改个预约", "你们有没有停车场啊"])
def test_look_alikes_of_short_hostility_are_no_hostile_words(guard, text) -> None:
    assert "hostile_words" not in guard.assess(BUILTIN, text).evidence


def test_civil_frustration_gets_empathy_not_a_transfer(guard) -> None:
    verdict = guard.assess(BUILTIN, "This is the third time I'm calling about this, it's getting tiresome.")
    assert verdict.kind == "frustrated" and not verdict.escalate


def test_calm_turn_and_priority_order(guard) -> None:
    assert guard.assess(BUILTIN, "How much does roaming cost in Spain?").kind == "calm"
    both = guard.assess(BUILTIN, "Get me a person, you idiots, my husband can't breathe!")
    assert both.kind == "emergency"
    assert guard.assess(BUILTIN, "You useless machine, put me through to a person!").kind == "human"


@pytest.mark.parametrize("text,phrase", [
    ("my mum had a heart attack a few years ago, she's fine now, I'm booking her yearly check", "heart attack"),
    ("my screen is dying on me after ten minutes, can you book a repair", "dying"),
    ("as a machine operator at the depot I need five SIMs for our scanners", "operator"),
])
def test_the_net_overrules_a_lexicon_word_in_a_calm_sentence(guard, text, phrase) -> None:
    assert (BUILTIN.matchers["emergency"].find(text) or BUILTIN.matchers["human"].find(text))
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "calm", verdict
    assert phrase in verdict.evidence["overruled"] and verdict.evidence["calm_score"] >= 0.5
    # without the net the word alone decides, as before
    assert EscalationGuard(None).assess(BUILTIN, text).kind in ("emergency", "human")


@pytest.mark.parametrize("text", ["the new printer's on fire this week, three thousand pages and not one jam",
                                  "公司前年失火以后搬了地方，发票抬头要改一下"])
def test_an_emergency_word_in_a_turn_the_net_finds_nothing_urgent_in_is_overruled(guard, text):
    assert BUILTIN.matchers["emergency"].find(text), text
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind not in ("emergency", "self_harm"), verdict
    assert verdict.evidence["urgent_score"] < load_head().thresholds["urgent_floor"]
    assert EscalationGuard(None).assess(BUILTIN, text).kind == "emergency"


@pytest.mark.parametrize("text,smoking", [
    ("the lithium batteries we were shipping back are smoking in the box right now", True),
    ("my power bank is smoking on the desk", True),
    ("the laptop battery started smoking last week, I unplugged it, can I claim on the warranty",
     False),
    ("I gave up smoking, is there a clinic to help me stay off it", False),
])
def test_a_battery_smoking_now_is_an_emergency(guard, text, smoking) -> None:
    assert (guard.assess(BUILTIN, text).kind == "emergency") == smoking, text


@pytest.mark.parametrize("text", ["my son is choking on a grape and going blue",
                                  "办公室着火了，烟很大，有人还在里面"])
def test_real_emergencies_stay_above_the_floor(guard, text) -> None:
    assert guard.assess(BUILTIN, text).kind == "emergency"
    assert guard.net.scores(text)["emergency"] > 3 * load_head().thresholds["urgent_floor"]


@pytest.mark.parametrize("text", ["heart attack!", "my dad is having a heart attack right now",
                                  "agent please", "I don't want the robot, I want a person"])
def test_the_net_never_overrules_short_or_real_ones(guard, text) -> None:
    assert guard.assess(BUILTIN, text).kind in ("emergency", "human")


@pytest.mark.parametrize("text,past", [
    ("she collapsed at school last month and the consultant wants to see her again", True),
    ("my father had a stroke back in 2019", True),
    ("我爸前年中风过，医生让每年复查一次", True),
    ("去年心梗住过院", True),
    ("他三个月前晕倒过一次", True),
    ("he just collapsed", False),
    ("我爸刚才晕倒了", False),
    ("my chest hurts right now", False),
])
def test_past_time_expressions(text, past) -> None:
    assert placed_in_past(text) == past


@pytest.mark.parametrize("text,kind", [
    ("she collapsed at school last month and the consultant wants to see her again", "calm"),
    ("我爸前年中风过，医生让每年复查一次，帮我约个号", "calm"),
    ("he had a heart attack last year and now he's collapsed on the floor and not breathing",
     "emergency"),
    ("我爸去年中风过，现在又突然说不出话，半边脸都歪了", "emergency"),
])
def test_an_emergency_placed_in_the_past_needs_the_nets_word_too(guard, text, kind) -> None:
    assert BUILTIN.matchers["emergency"].find(text), text
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == kind, verdict
    if kind == "calm":
        assert verdict.evidence.get("past") or verdict.evidence.get("calm_score") \
            or verdict.evidence.get("urgent_score"), verdict


@pytest.mark.parametrize("text,media", [
    ("there was a fire at a phone shop on the evening news", True),
    ("I watched a programme about batteries exploding", True),
    ("电视上说有款手机着火了", True),
    ("网上看到说我们小区着火了", True),
    ("i heard a crash and my dad isn't answering", False),
    ("听说隔壁着火了", False),
    ("the printer is on fire", False),
])
def test_words_for_the_news_and_other_media(text, media) -> None:
    assert from_the_media(text) == media


@pytest.mark.parametrize("interim,urgent", [
    ("i saw on the news there was a fire at one of your", False),
    ("there's a fire in my kitchen and the", True),
    ("last year my dad had a heart attack and now the", False),
    ("上个月我老公心脏病发作，住了", False),
    ("my dad is having a heart attack right now and the", True),
])
def test_an_interim_result_placed_in_the_past_or_the_news_waits_for_the_end_of_the_turn(
        guard, interim, urgent) -> None:
    """Interim results are checked while the caller talks; the net finds the fragment of a
    news caller's question urgent, so the past and media rules judge the whole turn, as the
    evaluation does (it reads final text)."""
    assert BUILTIN.matchers["emergency"].find(interim, partial=True), interim
    verdict = guard.urgent(BUILTIN, interim, partial=True)
    assert (verdict is not None) is urgent, verdict
    if not urgent:
        assert guard.overruled.get("deferred"), guard.overruled


@pytest.mark.parametrize("text,kind", [
    ("there was a fire at a phone shop on the evening news, are my orders delayed", "calm"),
    ("电视上说有款手机着火了，我这款会不会也这样", "calm"),
    ("we're on the news right now, the building is on fire and my kids are trapped upstairs",
     "emergency"),
    ("网上看到说我们小区着火了，我现在在家里全是烟，出不去了", "emergency"),
])
def test_an_emergency_from_the_news_needs_the_nets_word_too(guard, text, kind) -> None:
    assert BUILTIN.matchers["emergency"].find(text), text
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == kind, verdict
    if kind == "calm":
        assert verdict.evidence.get("media"), verdict


@pytest.mark.parametrize("text,declines", [
    ("no need for a person thanks, I found it on the website", True),
    ("I do not want to speak to an agent, just tell me my balance", True),
    ("不用转人工，我自己查就行", True),
    ("别给我转客服，我就问个时间", True),
    ("I don't want the robot, I want a person", False),
    ("I don't want to deal with a machine, put me through to someone", False),
    ("I don't need a bot, get me a real person", False),
    ("No, I don't want an agent, thanks", True),
    ("为什么不转人工", False),
    ("别废话，转人工", False),
    # the request phrase's own verb negated
    ("no, don't transfer me, I'll stay with you", True),
    ("please do not put me through, I only have a quick question", True),
    # no request phrase: the net alone hears a person in these
    ("no thanks, I don't need to talk to anyone", True),
    ("please send me a link to the self service portal, no agent needed", True),
    ("I don't want anyone from sales, I want someone in billing", False),
    ("这个系统挺好用的，不用找人", True), ("帮我找人，别让机器跟我说", False),
    # negated with its preposition; a request in another place still asks
    ("I want to go through my bill, not with a person, I mean just with you here", True),
    ("not to an agent, put me through to a manager", False),
    ("I don't need an agent, I want a manager", False),
])
def test_a_declined_person_is_no_request(guard, text, declines) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert (verdict.kind != "human") == declines, verdict
    if declines:
        assert verdict.evidence.get("declined"), verdict


@pytest.mark.parametrize("text,asks", [
    ("the agent I spoke to yesterday said my refund would take five days, has it gone through",
     False),
    ("thanks, the person on the chat already helped me", False),
    ("之前的客服说三天到账，现在还没到", False),
    ("the agent I spoke to was useless, I want a manager", True),
    ("I spoke to someone twice already, put me through to a supervisor", True),
    ("上次客服没解决，给我转人工", True),
    ("这个预约我改不了，想找工作人员帮我弄一下", True),
])
def test_staff_dealt_with_before_are_no_request_unless_one_is_asked_for(guard, text, asks) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert (verdict.kind == "human") == asks, verdict


@pytest.mark.parametrize("text,asks", [
    ("our receptionist is off today so I'm ringing on behalf of the office about the printer",
     False),
    ("I'm an agent of the council's IT team, we've got printers to log for repair", False),
    ("我是前台接线员，替我们老板问一下发票的事", False),
    ("the receptionist was rude and now this robot is even worse", False),
    ("前台态度差得要死，现在这个机器人更差", False),
    ("前台已经帮我约好了，我就问个地址", False),
    ("前台的小姐姐说可以网上改预约", False),     # what staff said
    ("工作人员说带身份证就行，对吧", False),
    ("前台说清楚点，我要改预约", True),
    ("I left my umbrella on your front desk yesterday, has anyone handed it in", False),
    ("can I talk to the receptionist", True),
    ("is the receptionist available", True),
    ("I'd like the receptionist to call me back", True),
    ("get me an agent, the last agent was rude", True),
    ("your operator hung up on me, I want a manager now", True),
    ("我要找前台那个护士", True),
    ("我是想找前台问一下", True),
    ("帮我转前台", True),
    ("a real person is what I need", True),
    ("your manager needs to call me back today", True),
    ("前台那位能帮我看一下吗", True),
])
def test_staff_spoken_of_are_no_request_unless_one_is_asked_for(guard, text, asks) -> None:
    verdict = guard.assess(BUILTIN, text)
    assert (verdict.kind == "human") == asks, verdict
    if not asks:
        assert guard.overruled.get("spoken_of") or verdict.evidence.get("spoken_of"), verdict


@pytest.mark.parametrize("text", [
    "my phone was stolen last night and I really need to speak with somebody about blocking it",
    "my bill has a charge I don't recognise and I want to go through it with someone",
    "孩子发烧挂不上号，我想跟护士问问",
])
def test_a_person_asked_for_outright_is_a_request_whatever_else_the_turn_tells(guard, text):
    """The net hears these as calm service turns; a request in so many words is not overruled."""
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "human" and verdict.evidence["net"] == "lexicon", verdict


@pytest.mark.parametrize("text,asks", [
    ("Can I speak to you about upgrading my contract?", False),
    ("can I speak to you people in billing", True),
    ("I don't want to talk to you, I want a person", True),
])
def test_talking_with_the_bot_is_no_request_for_a_person(guard, text, asks) -> None:
    """The net hears a request in all three; "you" alone is the bot."""
    assert (guard.assess(BUILTIN, text).kind == "human") == asks


@pytest.mark.parametrize("text", ["the agent was rude, agent please", "经理说了算，叫经理来"])
def test_a_staff_word_spoken_of_once_and_asked_for_again_is_a_request(guard, text) -> None:
    """Heard by the lexicon alone: the phrase's second place asks."""
    verdict = guard.human(LEXICON_ONLY, text)
    assert verdict is not None and verdict.evidence["net"] == "lexicon", guard.overruled


@pytest.mark.parametrize("text", ["你们具体在什么地方啊", "你们那个诊所到底在哪啊", "你们收不收医保啊",
                                  "你们到底在哪条路上啊", "你们工程师什么时候上门啊",
                                  "where exactly are you guys", "so where are you guys located exactly"])
def test_a_plain_question_for_information_is_no_hostile_turn_on_the_nets_word(guard, text):
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind in ("calm", "frustrated") and not verdict.escalate, verdict
    assert "net_angry" not in verdict.evidence


@pytest.mark.parametrize("text,plain", [
    ("你们诊所具体在什么位置啊", True), ("你们几点关门啊", True), ("请问你们地址在哪里呀", True),
    ("你们漫游怎么收费的啊", True), ("what time do you close", True),
    ("你们说不说一宝啊", True),   # 收不收医保 as whisper heard it: an A-not-A question
    ("你们讲不讲理啊", False), ("你们是不是想把我的钱吞了", False), ("不不不", False),
    ("你们有没有停车场啊", True), ("你们有没有搞错啊", False), ("你们到底有没有脑子", False),
    ("seriously, where is your clinic", True),
    # complaints, rhetorical questions, "why": the net keeps its word
    ("你们怎么还没给我退款啊", False), ("你们到底能不能办事？", False), ("你们是不是有病啊", False),
    ("凭什么收我钱，你们在哪个部门", False), ("why is my bill so high", False),
    ("do you even listen", False),
    ("where is my refund, I have been waiting for three weeks and nobody calls back, this is "
     "the fourth time", False),
])
def test_what_counts_as_a_plain_question_for_information(text, plain) -> None:
    assert asks_for_information(text) is plain


def test_anger_policy_off_and_net_off(guard) -> None:
    calm = compile_rules(Escalation(anger={"enabled": False}))
    assert guard.assess(calm, "You stupid useless machine!").kind == "calm"
    described = "my husband has gone a horrible grey colour and is clutching his arm"
    assert guard.urgent(BUILTIN, described) is not None
    assert EscalationGuard(None).urgent(BUILTIN, described) is None


def test_shipped_head_matches_the_shipped_training_data() -> None:
    head = load_head()
    assert head.classes == NET_CLASSES
    assert head.training_sha256 == training_sha256(), \
        "retrain: python -m ivr.safety.train (the training data changed since the head was fit)"
    assert set(head.thresholds) == {"urgent", "human", "angry", "frustrated", "urgent_veto",
                                    "urgent_floor", "human_veto", "self_harm_check"}
    assert all(0 < t < 1 for t in head.thresholds.values())
    assert head.memory is not None and len(head.memory) == len(head.memory_labels)
    assert head.ngrams is not None and head.ngrams.weights.shape == (len(NET_CLASSES), BUCKETS)
    texts, labels, _ = read_training()
    assert len(texts) >= 1500
    for language_test in (lambda t: t.isascii(), lambda t: not t.isascii()):
        assert {l for t, l in zip(texts, labels) if language_test(t)} == set(NET_CLASSES)


def test_ngram_voice_reads_normalised_text_and_learned_its_training_turns() -> None:
    # whisper's traditional characters and full-width forms are the same n-grams
    assert list(features("我要轉人工")) == list(features("我要转人工"))
    assert list(features("ＨＥＬＰ me")) == list(features("help me"))
    assert list(features("kill myself")) != list(features("kill the noise"))
    head = load_head()
    texts, labels, _ = read_training()
    sample = slice(0, None, 25)
    predicted = head.ngrams.probabilities(texts[sample]).argmax(axis=1)
    expected = [NET_CLASSES.index(label) for label in labels[sample]]
    assert (predicted == expected).mean() > 0.9


def test_warming_a_plan_compiles_every_nodes_rules_before_a_call_needs_them():
    from pathlib import Path

    from ivr.dialog.engine import node_escalation, warm_guard
    from ivr.dialplan.loader import load_dialplan
    from ivr.safety.lexicon import _compile

    plan = load_dialplan(Path(__file__).parent / "data" / "flows" / "all-nodes.yaml").plan
    configs = {node_escalation(plan, name).model_dump_json() for name in [None, *plan.nodes]}
    _compile.cache_clear()
    warm_guard(plan)
    assert _compile.cache_info().currsize == len(configs)
    misses = _compile.cache_info().misses
    for name in plan.nodes:  # what a call's turns ask for is there already
        compile_rules(node_escalation(plan, name))
    assert _compile.cache_info().misses == misses


@pytest.mark.parametrize("text, angry", [
    # a calm request the net scores just over its angry threshold, with calm close behind (dev 7)
    ("when am I free of this contract, if you see what I mean", False),
    # the net sure of it, no hostile words needed
    ("闭嘴，蠢机器人。", True),
    ("You charged me twice, that's fraud and you know it.", True),
])
def test_the_net_alone_makes_a_hostile_turn_only_when_anger_clearly_leads(net, text, angry):
    scores = net.scores(text)
    assert scores["angry"] >= net.threshold("angry")      # the net leans angry on all three
    verdict = EscalationGuard(net).assess(BUILTIN, text)
    assert (verdict.kind == "angry") is angry, verdict.evidence


@pytest.mark.parametrize("text", [
    # the net without its n-gram voice leaned angry on these (over its 0.425 threshold, calm
    # close behind); with it, they score under the threshold
    "诊所有没有除颤仪，我们社区在统计",
    "the hospital letter I got has your number on it, I think it's a misprint, is this the clinic",
])
def test_calm_questions_about_the_clinic_are_not_hostile(net, text):
    assert EscalationGuard(net).assess(BUILTIN, text).kind != "angry"


def test_a_calm_question_to_you_with_what_is_not_hostile(net):
    """A first question of the knowledge-base eval's dev part that the net takes for a hostile
    turn (angry 0.475 leading calm 0.27: the n-grams of 你们...什么 learnt from complaints); a
    strict xfail until the plain-question rule (ivr.safety.inquiry)."""
    assert not EscalationGuard(net).assess(BUILTIN, "你们诊所具体在什么位置啊").escalate


@pytest.mark.parametrize("text,denied", [
    ("Nothing's on fire, relax, the oven clock just keeps beeping, can someone fix the display?",
     "Nothing's on fire"),
    ("I'm not going to hurt myself, I only want my repeat prescription moved to Friday.",
     "not going to hurt myself"),
    ("放心，没有着火，就是插线板有点烫，想问问要不要换。", "没有着火"),
    # services the caller no longer wants, and recovery: the net reads "I don't want ...
    # anymore" and "I'm better now" as self-harm
    ("I don't want the insurance anymore", "I don't want the insurance anymore"),
    ("I don't want my landline anymore", "I don't want my landline anymore"),
    ("我不想要这个号码了", "不想要这个号码"),
    ("预约我不要了", "预约我不要了"),
    ("I'm all better now", "I'm all better now"),
    ("I'm dying to know my balance", "I'm dying to know"),
    ("我想结束合同", "结束合同"),
    ("我不想续约了", "不想续约"),
    ("I'm not going to need my landline anymore, everyone just calls my mobile.",
     "not going to need my landline anymore"),
    ("I'm done for the day, just book me whatever's first available next week.",
     "I'm done for the day"),
    # reassurance: the all-clear after a mishap
    ("the dog chewed through my charger cable, everyone's fine, I just need a new one",
     "everyone's fine"),
    ("I lost my phone at the beach, it's not a big deal, I just want to track it if I can",
     "it's not a big deal"),
    ("孩子刚才流鼻血，现在已经止住了，想问问要不要带过来看看", "已经止住了"),
    ("之前有一次我在家晕倒过，现在没事了，医生让我做个动态心电图，怎么约", "现在没事了"),
    pytest.param("我并没有想不开，就是想把宽带停一个月，出去旅游。", "并没有想不开",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "known gap since dev sets 11, 12 and 14 became training data: their "
                     "self-harm turns often ask to stop the broadband, and the net scores the "
                     "rest, 就是想把宽带停一个月，出去旅游, as self-harm (0.63 >= 0.54)"))),
])
def test_a_denied_danger_is_no_emergency(guard, text, denied) -> None:
    """The caller says what is not happening: judged without those words, calm."""
    scores = guard.net.scores(text)
    assert (BUILTIN.matchers["emergency"].find(text) or BUILTIN.matchers["self_harm"].find(text)
            or scores["emergency"] + scores["self_harm"] >= load_head().thresholds["urgent"]), \
        "judged with its denial, this caller would go to emergency help"
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind not in ("emergency", "self_harm"), verdict
    assert verdict.evidence.get("denied") == [denied], verdict


def test_words_set_aside_never_make_a_turn_more_urgent(guard) -> None:
    """Without 终止合约 ("end my contract"), 最后还要付多少 ("what will I pay in the end") reads
    as a last reckoning (0.51 against the 0.456 bar); the net hands a turn over only when it
    finds it urgent with the set-aside words too. (The English twin, "I want to end my
    contract, what's my final bill going to be", scores 0.4545 on its rest on one machine and
    above the bar on another: the rule is tested on it with a net that says so, below.)"""
    text = "我想终止合约，最后还要付多少？"
    rest, denied = without_denials(text)
    scores = guard.net.scores(rest)
    assert denied and scores["emergency"] + scores["self_harm"] >= load_head().thresholds["urgent"], \
        "judged on the rest alone, this caller would go to emergency help"
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind not in ("emergency", "self_harm"), verdict


def test_the_net_hands_over_a_turn_with_words_set_aside_only_if_urgent_with_them(
        guard, monkeypatch) -> None:
    """The rule alone, on the real guard with a net whose scores are given: urgent on the rest
    and calm on the whole turn is not handed over; urgent on both is."""
    text = "I want to end my contract, what's my final bill going to be"
    rest, denied = without_denials(text)
    assert denied == ["end my contract"] and rest != text
    urgent = {c: 0.0 for c in guard.net.head.classes} | {"self_harm": 0.9}
    calm = {c: 0.0 for c in guard.net.head.classes} | {"neutral": 0.9}
    monkeypatch.setattr(guard.net, "scores", lambda t: urgent if t == rest else calm)
    assert guard.urgent(BUILTIN, text) is None
    monkeypatch.setattr(guard.net, "scores", lambda t: urgent)
    verdict = guard.urgent(BUILTIN, text)
    assert verdict is not None and verdict.kind == "self_harm", verdict
    assert verdict.evidence["denied"] == denied


@pytest.mark.parametrize("text,kind", [
    ("nobody's hurt yet but a man is kicking my door in and he has a knife", "emergency"),
    ("I'm not suicidal, I just took every pill in the cupboard and I can't keep my eyes open",
     "self_harm"),
    ("我不是想不开，就是觉得活着太累了，药已经攒够了", "self_harm"),
    ("没人受伤，可是厨房的火越烧越大，我们出不去了", "emergency"),
    ("he's not breathing and his lips are blue", "emergency"),
    ("我是不是想不开了，今晚总想从楼上跳下去", "self_harm"),
    ("I don't need my phone plan anymore, I'm going to end it all tonight", "self_harm"),
    ("I feel better now that I've written the letters to my kids", "self_harm"),
    ("我感觉好多了，因为我已经决定了，明天就解脱了", "self_harm"),
    ("预约就不用了，反正我也活不到下礼拜了", "self_harm"),
    ("累死了，不想活了", "self_harm"),
    ("我想结束合同，然后结束自己", "self_harm"),
    ("I'm out on my balcony with one leg over the rail. Just end the contract, it's fine.",
     "self_harm"),
    ("everyone's fine but the kitchen is full of smoke", "emergency"),
    ("he's stable but he took forty of his heart pills", "emergency"),
    ("she's fine, she just can't stop shaking and her speech is slurred", "emergency"),
    ("all fine, I just wanted to say goodbye and thank you for everything", "self_harm"),
    ("it's not a big deal, I've just decided I won't be around much longer", "self_harm"),
    ("孩子精神挺好的，就是刚才吞了一颗纽扣电池", "emergency"),
    ("不严重，就是我老公胸口疼得厉害，出了一身冷汗", "emergency"),
])
def test_what_the_caller_says_besides_a_denial_is_judged(guard, text, kind) -> None:
    assert guard.assess(BUILTIN, text).kind == kind, text


@pytest.mark.parametrize("heard,denied", [
    # as whisper wrote 已经止住了 and 烦死了 by voice through G.711: homophones
    ("孩子刚才留鼻血,现在已经指住了,想问问要不要带过来看看。", "已经指住了"),
    ("我的网又掉了这个月都第五次了反死了", "反死了"),
])
def test_a_denial_is_heard_by_its_sound(heard, denied) -> None:
    assert without_denials(heard)[1] == [denied]


def test_a_sound_alike_is_no_denial_where_the_words_are_not_one() -> None:
    """我没时间 sounds like 我没事 up to its last syllable: no denial; 是不是想不开 is a question
    however it is written (事不是想不开: 事 sounds like 是)."""
    assert without_denials("我没时间跟你耗，我还要接孩子") == ("我没时间跟你耗，我还要接孩子", [])
    assert without_denials("事不是想不开")[1] == []


@pytest.mark.parametrize("text", ["It's an emergency, my wife collapsed", "有没有危险啊，他喝了农药",
                                  "会不会伤害自己我也说不好", "没钱了就自杀算了",
                                  "I don't want this life anymore", "I'm better off dead",
                                  "I don't want to be human anymore", "是不是不要这个套餐了",
                                  "I don't want my pills anymore", "is everyone fine?",
                                  "nobody is safe here", "I'm not sure he's fine", "现在没事了吗？",
                                  "严不严重", "他说没事了", "I'm done for, I can't do this anymore",
                                  "I'm not going to need my pills anymore"])
def test_no_denial_inside_a_question_or_an_affirmation(text) -> None:
    assert without_denials(text) == (text, [])


@pytest.mark.parametrize("text,answer", [
    ("Yes, I'm fine.", "safe"), ("No, I'm okay, honestly", "safe"), ("I'm not okay", "unsafe"),
    ("No.", "unsafe"), ("I don't know", "unsafe"), ("not really", "unsafe"),
    ("是的，我没事", "safe"), ("不太好", "unsafe"), ("不安全", "unsafe"), ("不知道", "unsafe"),
    ("I just want to cancel my line", None), ("我就是想把号销了", None)])
def test_answers_to_the_safety_check(text, answer) -> None:
    assert safety_answer(text) == answer


def test_a_turn_somewhat_like_self_harm_gets_the_safety_check_unless_the_plan_turns_it_off(
        guard) -> None:
    text = "I'm so tired of everything so please cancel the extra line for me"
    scores = guard.net.scores(text)
    head = load_head().thresholds
    assert head["self_harm_check"] <= scores["self_harm"] \
        and scores["self_harm"] + scores["emergency"] < head["urgent"], scores
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "check_in" and not verdict.escalate, verdict
    assert verdict.evidence["safety_check"] == round(scores["self_harm"], 3)
    off = compile_rules(Escalation(safety_check=False))
    assert EscalationGuard(guard.net).assess(off, text).kind == "calm"
    no_anger = compile_rules(Escalation(anger={"enabled": False}))   # the check is no mood
    assert EscalationGuard(guard.net).assess(no_anger, text).kind == "check_in"
    assert guard.assess(BUILTIN, "How much is roaming in Spain this summer?").kind == "calm"
    # once the example of this band; the net with its n-gram voice hands it over (the safer error)
    veiled = "My sister should have my phone because I'm tired of it all"
    assert guard.assess(BUILTIN, veiled).kind in ("check_in", "self_harm")


@pytest.mark.parametrize("text,sign", [
    pytest.param("Could you make my son the main contact? After I'm gone he'll want the old "
                 "photos in the cloud storage.", "After I'm gone",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "the net with its n-gram voice hands this caller over itself (self-harm "
                     "0.48 >= urgent 0.456): the safer error"))),
    pytest.param("Honestly I'm just a burden to my kids, can you cancel the family plan.",
                 "I'm just a burden", marks=pytest.mark.xfail(strict=True, reason=(
                     "the net trained on dev sets 11, 12 and 14 hands this caller over itself "
                     "(self-harm 0.54 >= urgent 0.54): the safer error"))),
    ("I've been saving up my sleeping pills, can the clinic give me another box?",
     "saving up my sleeping pills"),
    ("我走了以后这张卡里的话费能退给我老婆吗？", "我走了以后"),
    pytest.param("我攒了好多安眠药，诊所还能再给我开一盒吗？", "攒了好多安眠药",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "the net with its n-gram voice hands this caller over itself (self-harm "
                     "0.54 >= urgent 0.456): the safer error"))),
    ("止痛药我攒了半年了，这个月的处方还能续吗？", "药我攒了"),
    ("我在楼顶上吹风呢，信号不好，你别管我，帮我查下话费余额。", "楼顶上吹风呢，信号不好，你别管我"),
    ("I keep edging closer to the tracks while we talk, can you check my balance?",
     "edging closer to the tracks"),
])
def test_a_warning_sign_of_suicide_gets_the_safety_check_not_a_hand_off(guard, text, sign) -> None:
    """Veiled self-harm wrapped in a service request: asked "are you safe?", never transferred on
    the sign alone; with the net off too, and not where the plan turns the check off."""
    verdict = guard.assess(BUILTIN, text)
    assert verdict.kind == "check_in" and not verdict.escalate, verdict
    assert verdict.evidence["warning_sign"] == sign
    assert EscalationGuard(None).assess(BUILTIN, text).kind == "check_in"
    off = compile_rules(Escalation(safety_check=False))
    assert EscalationGuard(guard.net).assess(off, text).kind != "check_in"


@pytest.mark.parametrize("text", [
    "I want to say goodbye to paper bills, please switch me to email.",
    "I'm getting my affairs in order before the move, send the final bill to my new address.",
    "我下个月出国，半年不回来了，号码怎么保号？",
    "我要跟这个旧套餐说再见了，换个不限量的。",
    "降压药和阿司匹林能一起吃吗？",
    "药店说止痛药要攒够积分才能换购，是真的吗？",
    "我在楼顶晾衣服的时候手机掉下去了，屏幕碎了，能修吗？",
    pytest.param("How much paracetamol is too much for a child? The box is confusing.",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "known gap since dev sets 11, 12 and 14 became training data: the net "
                     "hears a dose question as self-harm enough to ask (0.38 >= 0.35)"))),
])
def test_look_alikes_of_warning_signs_are_not_asked(guard, text) -> None:
    assert guard.assess(BUILTIN, text).kind != "check_in", text


@pytest.mark.parametrize("text,sign", [
    ("我已经写好一书了，放在枕头底下", "写好一书"),    # 遗书 as the recogniser may write it
    ("我现在站在楼定上，往下看好高", "站在楼定"),      # 楼顶
    ("我要跟大家说声用别了", "说声用别"),              # 永别
    ("合同到期了，搬回老家了，那边用别的网", None),     # 用别的: "another", not 永别
    ("没事，你帮我约就行，不用别人", None),
])
def test_a_warning_sign_is_heard_by_its_sound(text, sign) -> None:
    assert warning_sign(text) == sign
