"""The studio's custom NiceGUI elements (vue-flow canvas, wavesurfer players, the stream player).

Both share one ES module bundle, `studio/bundle/index.js`, mapped to the import name
"haysay-studio" so it loads once and uses NiceGUI's own Vue. Rebuild it with
studio/frontend/build.sh.
"""
from .node_canvas import PORT_COLORS, NodeCanvas
from .node_palette import NodePalette
from .stream_player import StreamPlayer
from .waveform_player import WaveformPlayer

__all__ = ["NodeCanvas", "NodePalette", "StreamPlayer", "WaveformPlayer", "PORT_COLORS"]
