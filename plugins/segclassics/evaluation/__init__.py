"""Framework-free metrics (numpy/torch); the mmseg/detectron2 evaluators wrap these."""
