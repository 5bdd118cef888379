#!/bin/bash
# issue #15 conv: float BPTT (2 epochs) -> QAT 8-bit weights, 4-bit state, from the float run (10 epochs, lr 4e-4) -> export
set -e
export OMP_NUM_THREADS=1
S=.venv/bin/spikefa
D="--dataset mnist --data-dir ../shared/data/mnist --align-every 0 --no-progress"
date; $S train --model benchmarks/cards/snn-tutorial-conv.toml --rule bp --seed 0 --epochs 2 $D --out runs/f15/conv-bp-e2-seed0
date; $S train --model benchmarks/cards/snn-tutorial-conv.toml --rule bp --seed 0 --qat int8-edge --state-bits 4 \
   --init-from runs/f15/conv-bp-e2-seed0 --lr 4e-4 --epochs 10 $D --out runs/f15/conv-qat-w8s4-e10-lr4e-4
date; $S export runs/f15/conv-qat-w8s4-e10-lr4e-4 --target int8-edge --data-dir ../shared/data/mnist --no-progress --out runs/f15/exp-conv-qat-w8s4-e10
date
