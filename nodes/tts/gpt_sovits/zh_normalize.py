"""Chinese text normalisation before pinyin (GPT-SoVITS text/zh_normalization, from PaddleSpeech): the text
is cut at sentence marks, then dates, times, temperatures, units, arithmetic, fractions, percentages, phone
numbers, ranges and plain numbers are read out in characters, in upstream's order (which decides overlaps),
and the punctuation is mapped to the v2 marks; traditional characters are first simplified with
upstream's table (zh_traditional.py)."""
from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
UNITS = ((8, "亿"), (4, "万"), (3, "千"), (2, "百"), (1, "十"))
NUM = r"(-?)((\d+)(\.\d+)?)|(\.(\d+))"  # groups: sign, number, integer, decimal | pure decimal
UNIT_NAMES = r"%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s"
MEASURES = {"cm2": "平方厘米", "cm²": "平方厘米", "cm3": "立方厘米", "cm³": "立方厘米", "cm": "厘米", "db": "分贝",
            "ds": "毫秒", "kg": "千克", "km": "千米", "m2": "平方米", "m²": "平方米", "m³": "立方米", "m3": "立方米",
            "ml": "毫升", "m": "米", "mm": "毫米", "s": "秒"}  # replaced in this order, anywhere in the sentence
# measure words after which a number is a count (二 is then read 两)
QUANTIFIERS = (
    "(处|台|架|枚|趟|幅|平|方|堵|间|床|株|批|项|例|列|篇|栋|注|亩|封|艘|把|目|套|段|人|所|朵|匹|张|座|回|场|尾|条|个|首|"
    "阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|砣|座|客|贯|扎|捆|刀|令|打|手|罗|坡|山|岭|江|溪|钟|队|单|"
    "双|对|出|口|头|脚|板|跳|枝|件|贴|针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|"
    "微)克|毫|厘|(公)分|分|寸|尺|丈|里|寻|常|铺|程|(千|分|厘|毫|微)米|米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|盒|杯|钟|"
    "斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|小时|旬|纪|岁|世|更|夜|春|夏|秋|冬|"
    "代|伏|辈|丸|泡|粒|颗|幢|堆|条|根|支|道|面|片|张|颗|块|元|(亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|美|)元|(亿|"
    "千万|百万|万|千|百|十|)吨|(亿|千万|百万|万|千|百|)块|角|毛|分)")
SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ", "0123456789xyn")
OPERAND = r"((-?)((\d+)(\.\d+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\.\d+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))"
OPERATORS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}
GREEK = {"α": "阿尔法", "β": "贝塔", "γ": "伽玛", "Γ": "伽玛", "δ": "德尔塔", "Δ": "德尔塔", "ε": "艾普西龙",
         "ζ": "捷塔", "η": "依塔", "θ": "西塔", "Θ": "西塔", "ι": "艾欧塔", "κ": "喀帕", "λ": "拉姆达", "Λ": "拉姆达",
         "μ": "缪", "ν": "拗", "ξ": "克西", "Ξ": "克西", "ο": "欧米克伦", "π": "派", "Π": "派", "ρ": "肉",
         "ς": "西格玛", "Σ": "西格玛", "σ": "西格玛", "τ": "套", "υ": "宇普西龙", "φ": "服艾", "Φ": "服艾", "χ": "器",
         "ψ": "普赛", "Ψ": "普赛", "ω": "欧米伽", "Ω": "欧米伽"}
SYMBOL_WORDS = {"/": "每", **{c: DIGITS[i] for i, c in enumerate("①②③④⑤⑥⑦⑧⑨", 1)}, "⑩": "十", **GREEK,
                "+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等"}
# chinese2.rep_map: CJK and other marks to the v2 punctuation
MARK_MAP = {"：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",",
            "...": "…", "$": ".", "/": ",", "—": "-", "~": "…", "～": "…"}
PUNCTUATION = "!?…,.-"  # text/symbols.punctuation
FULL_WIDTH = {**{ord(c) + 0xFEE0: ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"},
              0x3000: ord(" ")}


# --- numbers -------------------------------------------------------------------------------------

def _cardinal_parts(digits: str, use_zero: bool = True) -> list[str]:
    stripped = digits.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        return [DIGITS[0], DIGITS[int(stripped)]] if use_zero and len(stripped) < len(digits) else \
            [DIGITS[int(stripped)]]
    power, unit = next((p, u) for p, u in UNITS if p < len(stripped))
    return _cardinal_parts(digits[:-power]) + [unit] + _cardinal_parts(digits[-power:])


def cardinal(digits: str) -> str:
    """'10203' -> 一万零二百零三; a leading 一十 is read 十."""
    digits = digits.lstrip("0")
    if not digits:
        return DIGITS[0]
    parts = _cardinal_parts(digits)
    return "".join(parts[1:] if parts[:2] == [DIGITS[1], "十"] else parts)


def digit_string(digits: str, alt_one: bool = False) -> str:
    """Digit by digit; phone numbers read 1 as 幺."""
    out = "".join(DIGITS[int(d)] for d in digits)
    return out.replace("一", "幺") if alt_one else out


def number(text: str) -> str:
    """A non-negative decimal: integer part as a cardinal, decimals digit by digit (trailing zeros but one
    dropped)."""
    integer, _, decimal = text.partition(".")
    if "." in decimal:
        raise ValueError(f"{text!r} has more than one point")
    out = cardinal(integer) if integer else ""
    decimal = decimal.rstrip("0") + "0" if decimal.endswith("0") else decimal.rstrip("0")
    return (out or DIGITS[0]) + "点" + digit_string(decimal) if decimal else out


def _sign(s: str | None, word: str = "负") -> str:
    return word if s else ""


def _number_match(m: re.Match) -> str:
    return number(m.group(5)) if m.group(5) else _sign(m.group(1)) + number(m.group(2))


def _clock(digits: str) -> str:
    return (DIGITS[0] if digits.startswith("0") else "") + number(digits.lstrip("0"))


def _time(m: re.Match) -> str:
    g = m.groups()
    out = f"{number(g[0])}点"
    if g[1].lstrip("0"):
        out += "半" if int(g[1]) == 30 else f"{_clock(g[1])}分"
    if g[3] and g[3].lstrip("0"):
        out += f"{_clock(g[3])}秒"
    if len(g) > 5:  # a range; upstream tests the first minute for 半 here too
        out += f"至{number(g[5])}点"
        if g[6].lstrip("0"):
            out += "半" if int(g[1]) == 30 else f"{_clock(g[6])}分"
        if g[8] and g[8].lstrip("0"):
            out += f"{_clock(g[8])}秒"
    return out


def _date(year: str, month: str | None, day: str | None, day_word: str) -> str:
    return (f"{digit_string(year)}年" if year else "") + (f"{cardinal(month)}月" if month else "") + \
        (f"{cardinal(day)}{day_word}" if day else "")


def _phone(text: str, mobile: bool) -> str:
    parts = text.strip("+").split() if mobile else text.split("-")
    return "，".join(digit_string(p, alt_one=True) for p in parts)


def _quantified(m: re.Match) -> str:
    n = number(m.group(1))
    return ("两" if n == "二" else n) + ("多" if m.group(2) == "+" else m.group(2) or "") + m.group(3)


def _range(m: re.Match) -> str:
    return f"{re.sub(NUM, _number_match, m.group(1))}到{re.sub(NUM, _number_match, m.group(6))}"


# (pattern, replacement), applied in upstream's normalize_sentence order
TIME = r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?"
RULES: tuple[tuple[re.Pattern, object], ...] = tuple((re.compile(p), r) for p, r in (
    (r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?",
     lambda m: _date(m.group(1), m.group(3), m.group(5), m.group(9))),
    (r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])",
     lambda m: _date(m.group(1), m.group(3), m.group(4), "日")),
    (TIME + r"(~|-)" + TIME, _time),
    (TIME, _time),
    (rf"((-?)((\d+)(\.\d+)?)|(\.(\d+)))({UNIT_NAMES})[~]((-?)((\d+)(\.\d+)?)|(\.(\d+)))({UNIT_NAMES})",
     lambda m: m.group(0).replace("~", "至")),
    (r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)",
     lambda m: _sign(m.group(1), "零下") + number(m.group(2)) + ("摄氏度" if m.group(4) == "摄氏度" else "度")),
))
LATE_RULES: tuple[tuple[re.Pattern, object], ...] = tuple((re.compile(p, f), r) for p, r, f in (
    (r"(-?)(\d+)/(\d+)", lambda m: f"{_sign(m.group(1))}{number(m.group(3))}分之{number(m.group(2))}", 0),
    (r"(-?)(\d+(\.\d+)?)%", lambda m: f"{_sign(m.group(1))}百分之{number(m.group(2))}", 0),
    (r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)", lambda m: _phone(m.group(0), True), 0),
    (r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)", lambda m: _phone(m.group(0), False), 0),
    (r"(400)(-)?\d{3}(-)?\d{4}", lambda m: _phone(m.group(0), False), 0),
    (r"(?<![\d\+\-\×÷=])((-?)((\d+)(\.\d+)?))[-~]((-?)((\d+)(\.\d+)?))(?![\d\+\-\×÷=])", _range, 0),
    (r"(-)(\d+)", lambda m: _sign(m.group(1)) + number(m.group(2)), 0),
    (r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)", lambda m: "".join("点" if c == "." else number(c) for c in m.group(1)), 0),
    (r"(-?)((\d+)(\.\d+))|(\.(\d+))", _number_match, 0),
    (r"(\d+)([多余几\+])?" + QUANTIFIERS, _quantified, 0),
    (r"\d{3}\d*", lambda m: digit_string(m.group(0), alt_one=True), 0),
    (NUM, _number_match, 0),
))
ARITHMETIC = re.compile(OPERAND + r"([\+\-\×÷=])" + OPERAND)


def normalize_sentence(sentence: str) -> str:
    """TextNormalizer.normalize_sentence."""
    from haysay.nodes.tts.gpt_sovits.zh_traditional import TO_SIMPLIFIED

    sentence = sentence.translate(TO_SIMPLIFIED).translate(FULL_WIDTH)
    for pattern, repl in RULES:
        sentence = pattern.sub(repl, sentence)
    for unit, name in MEASURES.items():
        sentence = sentence.replace(unit, name)
    while ARITHMETIC.search(sentence):
        sentence = ARITHMETIC.sub(lambda m: m.group(1) + OPERATORS[m.group(8)] + m.group(9), sentence)
    sentence = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]+", lambda m: "的" + m.group(0).translate(SUPERSCRIPTS) + "次方", sentence)
    for pattern, repl in LATE_RULES:
        sentence = pattern.sub(repl, sentence)
    for symbol, word in SYMBOL_WORDS.items():
        sentence = sentence.replace(symbol, word)
    return re.sub(r"[-——《》【】<=>{}()（）#&@“”^_|\\]", "", sentence)


def split_sentences(text: str) -> list[str]:
    """TextNormalizer._split for Chinese: spaces and brackets dropped, a cut after each sentence mark."""
    text = re.sub(r"[——《》【】<>{}()（）#&@“”^_|\\]", "", text.replace(" ", ""))
    text = re.sub(r"([：、，；。？！,;?!][”’]?)", "\\1\n", text).strip()
    return [s.strip() for s in re.split(r"\n+", text)]


def map_marks(text: str, keep_latin: bool = False) -> str:
    """chinese2.replace_punctuation: marks to the v2 punctuation, everything but Chinese characters (and
    Latin letters, for mixed text) and that punctuation dropped."""
    text = text.replace("嗯", "恩").replace("呣", "母")
    text = re.sub("|".join(re.escape(p) for p in MARK_MAP), lambda m: MARK_MAP[m.group()], text)
    keep = r"\u4e00-\u9fa5" + ("A-Za-z" if keep_latin else "") + re.escape(PUNCTUATION)
    return re.sub(rf"[^{keep}]+", "", text)


def text_normalize(text: str) -> str:
    """chinese2.text_normalize: the normalised sentences, marks mapped, repeated marks collapsed to the
    first."""
    out = "".join(map_marks(normalize_sentence(s)) for s in split_sentences(text))
    marks = re.escape(PUNCTUATION)
    return re.sub(f"([{marks}])([{marks}])+", r"\1", out)
