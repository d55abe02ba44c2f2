# SETR-PUP with a ViT-L/16 encoder on ADE20K: the paper's setting (Zheng et al., CVPR 2021, Sec. 4).
#   python tools/train.py configs/setr_ade20k.py                 # 1 process (batch 2)
#   bash tools/dist_train.sh configs/setr_ade20k.py 8           # 8 GPUs x 2 = batch 16 (paper)
# Data: data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}.
# Memory: add --cfg-options model.backbone.with_cp=True (activation checkpointing) and/or --amp.
_base_ = ["./setr/setr_pup_vit-l_ade20k.py"]
