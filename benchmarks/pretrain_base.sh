#!/usr/bin/env bash
# The pre-trained base of the transfer benchmark (bench_finetune.py transfer, GPT-1 Table 5's
# comparison): a 4 × 256 GPT over an 8k BPE trained here, on 10.9 MB of openly
# licensed text, ~20 minutes on 2 busy CPU threads. Every step is the real CLI; rerunning skips
# or resumes what is done.
#
#   nice -n 19 benchmarks/pretrain_base.sh [OUT [STEPS]]    # default /work/scratch_perf/base-lm, 200
#
# Corpus (no `data clean`: these are already clean, and clean's dedup/quality rules would drop
# the one-document text files): the bundled Gutenberg novels and Wikipedia articles (WikiText-2's
# raw test split, one document per article), the shared web-text documents (Dolma, CC-licensed
# Common Crawl pages), the OpenWebText sample, tiny-shakespeare, and WikiText-2's validation
# tokens. WikiText's other test files hold the same articles as the bundled ones and are left out.
set -euo pipefail
OUT=${1:-/work/scratch_perf/base-lm}
STEPS=${2:-200}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared/data}
WORK=${WORK:-${OUT}-data}        # tokenizer and token shards
GPTKIT=${GPTKIT:-"python -m gptkit"}
CORPUS=(
  "$HERE/gptkit/samples/gutenberg-novels.jsonl.gz"
  "$HERE/gptkit/samples/wikipedia-articles.jsonl.gz"
  "$SHARED/corpora/web-text"
  "$SHARED/corpora/openwebtext-sample"
  "$SHARED/corpora/tinyshakespeare/input.txt"
  "$SHARED/corpora/wikitext/wikitext-2.valid.tokens"
)
# 256 bytes + 7,935 merges + <|endoftext|> = 8,192 tokens
$GPTKIT tokenizer train "${CORPUS[@]}" --out "$WORK/tokenizer" --merges 7935 --threads 2
$GPTKIT data pack "${CORPUS[@]}" --tokenizer "$WORK/tokenizer" --out "$WORK/tokens" --val-fraction 0.02 -w 2
# mini = 4 layers × 256 wide, 4 heads, context 256; 8 × 256 tokens a step; cosine lr 2e-3 after
# 20 warmup steps; fp32 (bf16 autocast was no faster here). Under nice on the shared machine (load
# 5-8 on 2 cores) it trained at 180-620 tokens/s: 200 steps (0.41 M tokens, an eighth of an epoch)
# took 17 minutes (docs/benchmarks.md, Fine-tune).
$GPTKIT train -r "$HERE/recipes/train/tiny-cpu.toml" --data "$WORK/tokens" --out "$OUT" --threads 2 \
  --steps "$STEPS" --set train.model.preset=mini --set train.block_size=256 --set train.micro_batch=8 \
  --set train.batch_tokens=2048 --set train.optim.lr=2e-3 --set train.schedule.warmup_steps=20 \
  --set train.eval_interval=50 --set train.eval_batches=16 --set train.checkpoint.interval=50
