"""Precomputed StyleTTS 2 styles in Hay Say's `precomputed_styles.json`.

A style vector is what upstream's `compute_style` returns for a recording: [acoustic style, prosodic style],
2 * style_dim numbers. Hay Say ships such vectors per character and trait ("Neutral 1", "Happy 1", ...) so a
character speaks without a reference recording. Its StyleTTS 2 server keeps one file for all models in
`models/styletts_2/precomputed_styles.json`; two shapes have been published:

    [{"Model": "Twilight Sparkle", "Characters": [{"Character": ..., "Pre-computed Styles":
        [{"Trait": "Neutral 1", "Style Vector": [...]}, ...]}, ...]}, ...]      (current, by model)
    [{"Character": ..., "Pre-computed Styles": [{"Trait": ..., "Style Vector": [...]}]}, ...]   (earlier)

Hay Say's command line (hydrusbeta/StyleTTS2 command_line_interface.py, get_precomputed_style_from_file)
looks a style up by model, character and trait; so does `find_style`, which also accepts a file of the
earlier shape and a model name the file does not list when the character is found under one model only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from haysay.graph_engine.models.checkpoint_limits import CheckpointError, read_config_text

FILE_NAME = "precomputed_styles.json"


@dataclass(frozen=True)
class StyleTable:
    path: Path
    styles: dict[str, dict[str, dict[str, list[float]]]]  # model ("" in the earlier shape) -> character -> trait

    def characters(self) -> list[str]:
        return sorted({c for chars in self.styles.values() for c in chars})


def locate(model_folder: Path, given: str = "") -> Path | None:
    """The styles file: `given`, else precomputed_styles.json in the model's folder or its parent (Hay Say's
    models/styletts_2/ layout, one file beside the character folders)."""
    if given:
        return Path(given).expanduser()
    for folder in (model_folder, model_folder.parent):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    return None


def read_styles(path: Path) -> StyleTable:
    """The file's styles; CheckpointError naming the entry that is not in either published shape."""
    text = read_config_text(path, "the precomputed styles file does not exist")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list):
        raise CheckpointError(path, "expected a list of models (Hay Say's precomputed_styles.json)")
    styles: dict[str, dict[str, dict[str, list[float]]]] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise CheckpointError(path, f"entry {i} is not an object")
        if "Characters" in item:
            model, characters = item.get("Model"), item["Characters"]
            if not isinstance(model, str) or not isinstance(characters, list):
                raise CheckpointError(path, f"entry {i}: expected 'Model' (text) and 'Characters' (a list)")
            where = f"model {model!r}"
        else:
            model, characters, where = "", [item], f"entry {i}"
        table = styles.setdefault(model, {})
        for j, char in enumerate(characters):
            name = char.get("Character") if isinstance(char, dict) else None
            traits = char.get("Pre-computed Styles") if isinstance(char, dict) else None
            if not isinstance(name, str) or not isinstance(traits, list):
                raise CheckpointError(path, f"{where}, character {j}: expected 'Character' and 'Pre-computed Styles'")
            for k, trait in enumerate(traits):
                label = trait.get("Trait") if isinstance(trait, dict) else None
                vector = trait.get("Style Vector") if isinstance(trait, dict) else None
                if not isinstance(label, str) or not isinstance(vector, list) or not vector or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector):
                    raise CheckpointError(path, f"{where}, {name!r}, style {k}: expected 'Trait' (text) and "
                                                "'Style Vector' (a list of numbers)")
                table.setdefault(name, {})[label] = [float(v) for v in vector]
    return StyleTable(path, styles)


def find_style(table: StyleTable, model: str, character: str, trait: str) -> list[float]:
    """The vector of `trait` of `character` under `model`; ValueError saying what the file holds instead."""
    if model in table.styles and character in table.styles[model]:
        chars = table.styles[model]
    else:
        owners = [m for m, chars in table.styles.items() if character in chars]
        if not owners:
            raise ValueError(f"style_character: {table.path.name} has no character {character!r} (it has: "
                             f"{', '.join(table.characters()) or 'none'})")
        if len(owners) > 1:
            raise ValueError(f"style_character: {character!r} is listed under several models in {table.path.name} "
                             f"({', '.join(sorted(owners))}) and none is {model!r}")
        chars = table.styles[owners[0]]
    traits = chars[character]
    if trait not in traits:
        raise ValueError(f"style_trait: {character!r} has no trait {trait!r} (it has: {', '.join(sorted(traits))})")
    return traits[trait]
