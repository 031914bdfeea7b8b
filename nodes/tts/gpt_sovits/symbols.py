"""GPT-SoVITS v2's phoneme vocabulary. A model's phoneme ids are positions in this list, so its order is
the model's: the sorted set of the Chinese, English, Japanese and punctuation symbols, then the brackets,
Korean jamo and two specials in their own order, then the sorted Cantonese symbols (upstream builds the same
list in text/symbols2.py). Written here from its parts: symbols that take every tone or stress mark are
given once with the marks they take."""
from __future__ import annotations

# pinyin finals (erhua and special finals included) with each tone 1..5
PINYIN_TONED = (
    'E', 'En', 'a', 'ai', 'an', 'ang', 'ao', 'e', 'ei', 'en', 'eng', 'er', 'i', 'i0',
    'ia', 'ian', 'iang', 'iao', 'ie', 'in', 'ing', 'iong', 'ir', 'iu', 'o', 'ong', 'ou', 'u',
    'ua', 'uai', 'uan', 'uang', 'ui', 'un', 'uo', 'v', 'van', 've', 'vn',
)
# ARPAbet vowels with each stress 0..2
ARPABET_STRESSED = (
    'AA', 'AE', 'AH', 'AO', 'AW', 'AY', 'EH', 'ER', 'EY', 'IH', 'IY', 'OW', 'OY', 'UH',
    'UW',
)
# pad, ARPAbet consonants, pinyin initials, Japanese phones, punctuation and specials
BASE_OTHERS = (
    '!', ',', '-', '.', '?', 'AA', 'B', 'CH', 'D', 'DH', 'EE', 'ER', 'F', 'G',
    'HH', 'I', 'IH', 'JH', 'K', 'L', 'M', 'N', 'NG', 'OO', 'P', 'R', 'S', 'SH',
    'SP', 'SP2', 'SP3', 'T', 'TH', 'U', 'UNK', 'V', 'W', 'Y', 'Z', 'ZH', '_', 'a',
    'b', 'by', 'c', 'ch', 'cl', 'd', 'dy', 'e', 'f', 'g', 'gy', 'h', 'hy', 'i',
    'j', 'k', 'ky', 'l', 'm', 'my', 'n', 'ny', 'o', 'p', 'py', 'q', 'r', 'ry',
    's', 'sh', 't', 'ts', 'u', 'v', 'w', 'x', 'y', 'z', 'zh', '…',
)
# appended after the sorted set, in this order
APPENDED = (
    '[', ']', 'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ',
    'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ', 'ㅌ', 'ㅍ', 'ㅎ', 'ㅏ', 'ㅐ', 'ㅓ', 'ㅔ', 'ㅗ', 'ㅜ', 'ㅡ',
    'ㅣ', '停', '空',
)
# Cantonese (Jyutping, 'Y'-prefixed) finals with each tone 1..6, and the other Cantonese symbols
CANTONESE_TONED = (
    'Ya', 'Yaa', 'Yaai', 'Yaak', 'Yaam', 'Yaan', 'Yaang', 'Yaap', 'Yaat', 'Yaau', 'Yai', 'Yak', 'Yam', 'Yan',
    'Yang', 'Yap', 'Yat', 'Yau', 'Ye', 'Yei', 'Yek', 'Yeng', 'Yeoi', 'Yeon', 'Yeot', 'Yg', 'Yi', 'Yik',
    'Yim', 'Yin', 'Ying', 'Yip', 'Yit', 'Yiu', 'Yk', 'Ym', 'Yn', 'Yo', 'Yoe', 'Yoek', 'Yoeng', 'Yoi',
    'Yok', 'Yon', 'Yong', 'Yot', 'You', 'Yp', 'Yt', 'Yu', 'Yui', 'Yuk', 'Yun', 'Yung', 'Yut', 'Yyu',
    'Yyun', 'Yyut',
)
CANTONESE_OTHERS = (
    'Ya', 'Yaa', 'Yai', 'Yak', 'Yau', 'Yb', 'Yc', 'Yd', 'Ye', 'Yf', 'Yg', 'Ygw', 'Yh', 'Yj',
    'Yk', 'Ykw', 'Yl', 'Ym', 'Yn', 'Yng', 'Yo', 'Yoi', 'Yok', 'Yon', 'You', 'Yp', 'Ys', 'Yt',
    'Yuk', 'Yw', 'Yz',
)


def _marked(bases: tuple[str, ...], marks: str) -> set[str]:
    return {b + m for b in bases for m in marks}


SYMBOLS: tuple[str, ...] = (
    *sorted(_marked(PINYIN_TONED, "12345") | _marked(ARPABET_STRESSED, "012") | set(BASE_OTHERS)),
    *APPENDED,
    *sorted(_marked(CANTONESE_TONED, "123456") | set(CANTONESE_OTHERS)),
)
