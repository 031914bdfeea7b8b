"""Mandarin tone sandhi on pypinyin finals (GPT-SoVITS text/tone_sandhi.py, from PaddleSpeech): words are
merged before lookup (不/一 with their neighbours, reduplications, runs of third tones, 儿), then each
word's tones change for 不, 一, neutral-tone words and particles, and third-tone runs. The word lists are
upstream's data; the rules are written here in our own form."""
from __future__ import annotations

NEUTRAL_WORDS = frozenset((
    "一辈 丈人 丈夫 上司 上头 下巴 下水 不在 不由 世故 东家 东西 两口 丧气 丫头 主意 "
    "买卖 事情 云彩 交情 亲家 亲戚 人家 什么 介绍 休息 伙计 似的 位置 体面 作坊 佩服 "
    "使唤 便宜 倒腾 兄弟 先生 关系 养活 冒失 冤家 冤枉 冷战 凉快 凑合 凤凰 出息 分析 "
    "利害 利索 利落 别扭 刺激 刺猬 前头 力气 功夫 动弹 动静 勤快 匀称 包涵 包袱 千斤 "
    "厉害 厚道 口袋 叫唤 吆喝 合同 吉他 名堂 名字 后头 吓唬 含糊 告示 告诉 和尚 咕噜 "
    "咖喱 咳嗽 哆嗦 哈欠 哑巴 唾沫 商量 喇叭 喇嘛 喉咙 喜欢 喽啰 嘀咕 嘟囔 嘱咐 嘴巴 "
    "困难 在乎 地方 地道 壮实 外甥 多么 多少 大人 大夫 大意 大方 大爷 太阳 头发 女婿 "
    "奴才 妖精 妥当 妯娌 姐夫 姑娘 委屈 姥爷 娘家 婆家 媒人 媳妇 嫁妆 字号 学生 学问 "
    "官司 实在 客气 家伙 寒碜 寡妇 对付 对头 将就 小伙 小气 少爷 尾巴 屁股 岁数 工夫 "
    "差事 巴掌 巴结 师傅 师父 希罕 帐篷 帮手 干事 幸福 庄稼 应酬 开通 弄堂 弟兄 张罗 "
    "得罪 心思 志气 忙活 快活 念叨 念头 怎么 思量 怪物 悟性 情形 惦记 意思 意识 懒得 "
    "戒指 扁担 扎实 扑腾 打发 打听 打扮 打点 打算 打量 扫帚 扫把 折腾 护士 报复 抬举 "
    "拖沓 招呼 招牌 拨弄 拳头 拾掇 指头 指甲 挑剔 挖苦 提防 收成 收拾 故事 新鲜 时候 "
    "明白 暖和 月亮 月饼 朋友 木匠 木头 本事 机灵 枇杷 枕头 架势 柴火 栅栏 核桃 棉花 "
    "棒槌 棺材 槟榔 模糊 欺负 正经 母亲 比方 泥鳅 活泼 浪头 消息 清楚 温和 溜达 滑溜 "
    "漂亮 火候 灯笼 炊帚 点心 烂糊 烟筒 烧饼 热闹 照顾 熟悉 爱人 父亲 爽快 牌楼 牙碜 "
    "牢骚 牲口 特务 状元 狐狸 玄乎 玫瑰 玻璃 琉璃 琢磨 琵琶 甘蔗 甜头 生意 畜生 疏忽 "
    "疙瘩 疟疾 痛快 痢疾 白净 盘算 盘缠 相声 眉毛 眨巴 眯缝 眼睛 知识 石匠 石头 石榴 "
    "码头 砚台 祖宗 福气 秀才 秀气 秧歌 称呼 稀罕 稳当 窗户 窝囊 窟窿 笑话 笑语 笤帚 "
    "答应 算盘 算计 篱笆 簸箕 粮食 精神 糊涂 糟蹋 糨糊 累赘 红火 结实 编辑 罐头 罗嗦 "
    "翻腾 老太 老头 老婆 老实 老爷 耳朵 耷拉 耽搁 耽误 聪明 胡同 胡琴 胡萝 胭脂 胳膊 "
    "能耐 脊梁 脑袋 脾气 膏药 自在 舌头 舒坦 舒服 芝麻 苍蝇 苗头 苗条 荒唐 荸荠 菩萨 "
    "萝卜 葡萄 葫芦 薄荷 蘑菇 蚂蚱 蛤蟆 蜡烛 行当 行李 街坊 衙门 衣服 衣裳 补丁 裁缝 "
    "见识 规矩 计划 认识 记号 记性 讲究 豆腐 财主 费用 趔趄 跟头 跳蚤 踏实 转悠 软和 "
    "过去 运气 这个 这么 连累 迷糊 造化 逻辑 道士 邋遢 那个 那么 部分 里头 里脊 钥匙 "
    "铁匠 铃铛 铺盖 锄头 门道 闺女 阔气 队伍 难为 风筝 馄饨 馒头 首饰 马虎 骆驼 骨头 "
    "高粱 鸳鸯 麻利 麻烦 "
).split())
NOT_NEUTRAL_WORDS = frozenset((
    "人人 以下 佼佼 冉冉 分子 卵子 原子 吵吵 哈哈 女子 娃哈哈 学子 家家户户 局地 干嘛 "
    "幺幺 恳恳 想想 打打 攘攘 数数 整整 死死 熙熙 瓜子 电子 男子 留得 石子 算子 考考 "
    "耕地 花花草草 莘莘 莲子 落地 虎虎 袅袅 量子 青青 "
).split())


PUNCT = "：，；。？！“”‘’':,;.?!"
PARTICLES = "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"


def _tone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _finals(word: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)


def _all_three(finals: list[str]) -> bool:
    return all(f[-1] == "3" for f in finals)


def split_word(word: str) -> list[str]:
    """The word split at its shortest search-mode sub-word (the first such), as two parts."""
    import jieba

    first = sorted(jieba.cut_for_search(word), key=len)[0]
    if word.find(first) == 0:
        return [first, word[len(first):]]
    return [word[:-len(first)], first]


def _neutral(word: str, pos: str, finals: list[str]) -> list[str]:
    for j in range(1, len(word)):
        if word[j] == word[j - 1] and pos[0] in "nva" and word not in NOT_NEUTRAL_WORDS:
            finals[j] = _tone(finals[j], "5")
    ge = word.find("个")
    last, before = word[-1:], word[-2:-1]
    if last and last in PARTICLES or last and last in "的地得":
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) == 1 and word in "了着过" and pos in ("ul", "uz", "ug"):
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) > 1 and last in "们子" and pos in ("r", "n") and word not in NOT_NEUTRAL_WORDS:
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) > 1 and last in "上下里" and pos in ("s", "l", "f"):
        finals[-1] = _tone(finals[-1], "5")
    elif len(word) > 1 and last in "来去" and before in "上下进出回过起开":
        finals[-1] = _tone(finals[-1], "5")
    elif (ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in "几有两半多各整每做是")) or word == "个":
        finals[ge] = _tone(finals[ge], "5")
    elif word in NEUTRAL_WORDS or word[-2:] in NEUTRAL_WORDS:
        finals[-1] = _tone(finals[-1], "5")
    parts = split_word(word)
    halves = [finals[:len(parts[0])], finals[len(parts[0]):]]
    for part, half in zip(parts, halves):
        if part in NEUTRAL_WORDS or part[-2:] in NEUTRAL_WORDS:
            half[-1] = _tone(half[-1], "5")
    return halves[0] + halves[1]


def _bu(word: str, finals: list[str]) -> list[str]:
    if len(word) == 3 and word[1] == "不":  # 看不懂: the middle 不 is neutral
        finals[1] = _tone(finals[1], "5")
        return finals
    for i, ch in enumerate(word[:-1]):
        if ch == "不" and finals[i + 1][-1] == "4":
            finals[i] = _tone(finals[i], "2")
    return finals


def _yi(word: str, finals: list[str]) -> list[str]:
    if "一" in word and all(ch.isnumeric() for ch in word if ch != "一"):  # a number read out: 一 keeps tone 1
        return finals
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:  # 看一看
        finals[1] = _tone(finals[1], "5")
    elif word.startswith("第一"):
        finals[1] = _tone(finals[1], "1")
    else:
        for i, ch in enumerate(word[:-1]):
            if ch == "一":
                if finals[i + 1][-1] == "4":
                    finals[i] = _tone(finals[i], "2")
                elif word[i + 1] not in PUNCT:
                    finals[i] = _tone(finals[i], "4")
    return finals


def _three(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_three(finals):
        finals[0] = _tone(finals[0], "2")
    elif len(word) == 3:
        parts = split_word(word)
        if _all_three(finals):
            if len(parts[0]) == 2:
                finals[0], finals[1] = _tone(finals[0], "2"), _tone(finals[1], "2")
            elif len(parts[0]) == 1:
                finals[1] = _tone(finals[1], "2")
        else:
            halves = [finals[:len(parts[0])], finals[len(parts[0]):]]
            for i, half in enumerate(halves):
                if len(half) == 2 and _all_three(half):
                    half[0] = _tone(half[0], "2")
                elif i == 1 and not _all_three(half) and half[0][-1] == "3" and halves[0][-1][-1] == "3":
                    halves[0][-1] = _tone(halves[0][-1], "2")
            finals = halves[0] + halves[1]
    elif len(word) == 4:
        halves = [finals[:2], finals[2:]]
        for half in halves:
            if _all_three(half):
                half[0] = _tone(half[0], "2")
        finals = halves[0] + halves[1]
    return finals


def modified_tone(word: str, pos: str, finals: list[str]) -> list[str]:
    """One word's finals after 不, 一, neutral-tone and third-tone sandhi."""
    return _three(word, _neutral(word, pos, _yi(word, _bu(word, finals))))


# --- merging jieba's words before lookup ----------------------------------------------------------

def _merge_bu(seg: list[list[str]]) -> list[list[str]]:
    out, last = [], ""
    for word, pos in seg:
        if last == "不":
            word = last + word
        if word != "不":
            out.append([word, pos])
        last = word
    if last == "不":
        out.append([last, "d"])
    return out


def _merge_yi(seg: list[list[str]]) -> list[list[str]]:
    out, i = [], 0
    while i < len(seg):  # verb 一 verb (看一看) becomes one word
        word, pos = seg[i]
        if i >= 1 and word == "一" and i + 1 < len(seg):
            prev, nxt = out[-1], seg[i + 1]
            if prev[0] == nxt[0] and prev[1] == "v" and nxt[1] == "v":
                out[-1] = [prev[0] + "一" + nxt[0], prev[1]]
                i += 2
                continue
        out.append([word, pos])
        i += 1
    merged = []
    for word, pos in out:  # a lone 一 takes the next word
        if merged and merged[-1][0] == "一":
            merged[-1][0] += word
        else:
            merged.append([word, pos])
    return merged


def _merge_threes(seg: list[list[str]], whole: bool) -> list[list[str]]:
    """Join a word to the previous one (three characters at most, not after a reduplication) when both are
    all third tones (`whole`) or when the boundary is third tone on both sides."""
    finals = [_finals(word) for word, _ in seg]
    out, joined = [], [False] * len(seg)
    for i, (word, pos) in enumerate(seg):
        if i >= 1 and not joined[i - 1] and (
                (_all_three(finals[i - 1]) and _all_three(finals[i])) if whole
                else (finals[i - 1][-1][-1] == "3" and finals[i][0][-1] == "3")):
            prev = seg[i - 1][0]
            if not (len(prev) == 2 and prev[0] == prev[1]) and len(prev) + len(word) <= 3:
                out[-1][0] += word
                joined[i] = True
                continue
        out.append([word, pos])
    return out


def _merge_er(seg: list[list[str]]) -> list[list[str]]:
    out = []
    for i, (word, pos) in enumerate(seg):
        if i >= 1 and word == "儿" and seg[i - 1][0] != "#":
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def _merge_reduplication(seg: list[list[str]]) -> list[list[str]]:
    out = []
    for word, pos in seg:
        if out and word == out[-1][0]:
            out[-1][0] += word
        else:
            out.append([word, pos])
    return out


def pre_merge(seg: list[tuple[str, str]]) -> list[list[str]]:
    """jieba posseg (word, pos) pairs merged as upstream's pre_merge_for_modify; a merge that fails (upstream
    catches it) leaves the words as they were."""
    words = _merge_bu([[w, p] for w, p in seg])
    for step in (_merge_yi, _merge_reduplication, lambda s: _merge_threes(s, True),
                 lambda s: _merge_threes(s, False)):
        try:
            words = step([list(x) for x in words])
        except IndexError:
            pass
    return _merge_er(words)
