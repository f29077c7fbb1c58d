#!/usr/bin/env bash
# Continue training the bundled models on a CPU (docs/MODEL_CARD.md, "Round 3"). Resumable: run it again with
# the same OUT_DIR and each stage continues from its last checkpoint (`--resume auto`).
#
#   tools/continue_bundled_model.sh TRAIN_DIR VAL_DIR [OUT_DIR]
#
# Two runs side by side, one CPU thread and one loader worker each, at the lowest priority:
#   gan  - the default model: GAN stage (eq. 19 and the config's colour term) continued from the shipped
#          dsrgan-lite-x4 weights, fresh discriminators at half width (num_feat 32) warmed up alone for 150
#          iterations, batch 8;
#   psnr - dsrgan-lite-x4-psnr: PSNR stage (L1) continued from the shipped PSNR weights at lr 1e-4 (with the
#          nearest detail upsampling it was trained with; the preset's is bilinear).
# GAN_MINUTES / PSNR_MINUTES bound each invocation (default 125 / 60); EXTRA adds --set overrides to both.
# STAGES=gan runs the GAN stage alone with all cores (THREADS, default 2) and channels-last convolutions, the
# fastest setting measured on a 2-core CPU; the checkpoints of both settings resume each other.
set -euo pipefail
TRAIN=${1:?usage: $0 TRAIN_DIR VAL_DIR [OUT_DIR]}; VAL=${2:?usage: $0 TRAIN_DIR VAL_DIR [OUT_DIR]}
OUT=${3:-runs/round3}
DSRGAN=${DSRGAN:-dsrgan}
WEIGHTS=$(python3 -c "import pathlib,sys; print(pathlib.Path(sys.argv[1]).resolve())" src/dsrgan/weights/files)
C=(--set "data.train=[$TRAIN]" --set "data.val=[$VAL]" --set log.root=$OUT --set data.cache_dir=$OUT/cache
   --set log.progress=false --set log.tensorboard=false --set train.threads=1 --set data.num_workers=1
   --set log.print_every=50 --set log.checkpoint_every=250 --set log.keep_checkpoints=1)
STAGES=${STAGES:-gan psnr}
if [ "$STAGES" = gan ]; then
  C+=(--set train.threads=${THREADS:-2} --set train.channels_last=on)
fi
C+=(${EXTRA:-})

resume() {  # --resume auto once the run folder has a checkpoint
  ls "$OUT/$1/checkpoints/"iter_*.pt >/dev/null 2>&1 && echo "--resume auto" || true
}

nice -n 19 $DSRGAN train configs/lite_dsrgan_gan.yaml "${C[@]}" $(resume lite_dsrgan_gan) \
  --set "init.generator=$WEIGHTS/dsrgan-lite-x4.safetensors" \
  --set "model.discriminator_params={num_feat: 32}" --set train.batch_size=8 \
  --set train.warmup_d_only=150 --set train.iterations=8000 --set "optim.milestones=[3000, 5000]" \
  --set log.val_every=500 --set train.time_limit_minutes=${GAN_MINUTES:-125} > "$OUT.gan.out" 2>&1 &
gan=$!
if [ "$STAGES" = gan ]; then
  wait $gan
  echo "exported: $OUT/lite_dsrgan_gan/model.safetensors"
  exit 0
fi
# the second run starts once the first has built the shared data cache
until grep -q " run \| validation @\|rror" "$OUT/lite_dsrgan_gan/train.log" 2>/dev/null || ! kill -0 $gan 2>/dev/null; do
  sleep 10
done
nice -n 19 $DSRGAN train configs/lite_dsrgan_psnr.yaml "${C[@]}" $(resume lite_dsrgan_psnr) \
  --set "init.generator=$WEIGHTS/dsrgan-lite-x4-psnr.safetensors" --set optim.lr_g=1.0e-4 \
  --set "model.params={detail_upsample: nearest}" \
  --set train.iterations=6000 --set "optim.milestones=[2500, 4000]" \
  --set log.val_every=1000 --set train.time_limit_minutes=${PSNR_MINUTES:-60} > "$OUT.psnr.out" 2>&1 &
psnr=$!
wait $gan; wait $psnr
echo "exported: $OUT/lite_dsrgan_gan/model.safetensors $OUT/lite_dsrgan_psnr/model.safetensors"
