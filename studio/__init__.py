"""haysay studio: the browser node editor (NiceGUI + vue-flow) over the engine API.

Start it with `haysay studio`; `haysay.studio.app.run_studio(StudioConfig(...))` does the same from Python.
"""
