"""greeter: the office-door kiosk that recognises people and speaks a welcome.

    python -m greeter --images images/ --headless --no-speech

See :mod:`greeter.app` for the loop; the parts (camera, speech, gallery,
tracker, display) are passed in so they can be replaced in tests.
"""

from greeter.app import Face, Recognizer, run
from greeter.camera import CameraError, FrameSource
from greeter.config import ConfigError, Settings, load_config, resolve_settings
from greeter.gallery import Gallery
from greeter.speech import SpeechWorker, WavVoice
from greeter.tracker import GreetingTracker, clean_name, greeting_text

__all__ = ["CameraError", "ConfigError", "Face", "FrameSource", "Gallery", "GreetingTracker",
           "Recognizer", "Settings", "SpeechWorker", "WavVoice", "clean_name", "greeting_text",
           "load_config", "resolve_settings", "run"]
