"""Entry-point logic behind tools/train.py and tools/test.py: recognise a config's framework
and hand it to that framework's own runner (mmengine ``Runner`` or detectron2 trainers)."""
