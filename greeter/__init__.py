"""greeter: the office-door kiosk that recognises people and speaks a welcome.

    python -m greeter --images images/ --headless --no-speech

See :mod:`greeter.app` for the loop; the parts (camera, speech, face
library, tracker, display) are passed in so they can be replaced in tests. The names
below load on first use (PEP 562), so ``greeter --help`` stays fast and does not
import TensorFlow.
"""

import importlib

_EXPORTS = {
    "greeter.app": ["FaceSeen", "Recognizer", "run"],
    "greeter.camera": ["CameraError", "FrameSource"],
    "greeter.config": ["ConfigError", "Settings", "load_config", "resolve_settings"],
    "greeter.speech": ["SpeechWorker", "WavVoice"],
    "greeter.names": ["clean_name", "display_name", "greeting_text"],
    "greeter.tracks": ["FaceTracker"],
    "greeter.visits": ["QualityGate", "Rules", "VisitJudge"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'greeter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
