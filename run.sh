#!/usr/bin/env bash
# TF-GridNet speech enhancement on DNS Challenge 5, trained by direct learning (DL) and by
# progressive learning (PL), from data preparation to RESULTS.md.
#
#   ./run.sh                                  # everything, embedded corpus, small CPU models
#   ./run.sh --dns5-root /data/dns5 --models "dl_paper pl_paper" --ngpu 1
#   ./run.sh --stage 5 --stop-stage 6         # decode and score again
#
# Stages: 0 embedded corpus (only without --dns5-root), 1 lists, 2 simulation, 3 statistics,
# 4 training, 5 decoding (and the peer systems), 6 scoring + RESULTS.md, 7 packing.
# Every stage skips work that is already complete.
set -euo pipefail
SECONDS=0
cd "$(dirname "$0")"

stage=0             # first stage to run
stop_stage=7        # last stage to run
nj=2                # parallel jobs for data preparation, decoding and scoring
ngpu=0              # GPUs for training (per node) and decoding (0: CPU); more than 1: DDP
num_nodes=1         # nodes for training (more than 1: cmd.sh's slurm back-end; docs/cluster.md)
dns5_root=          # DNS5 download (the folder holding datasets_fullband/); empty: embedded corpus
subsets=read_speech # clean_fullband subsets to use
models="dl pl pl_relative" # model tags; tag X trains conf/train_X.yaml into exp/enh_X
seeds=0             # training seeds: seed 0 trains exp/enh_<tag>, seed s > 0 exp/enh_<tag>_seed<s>
train_config=       # train one config instead of --models (its tag: --tag or the file name)
tag=                # experiment tag for --train-config
sim_config=conf/simulation.yaml   # simulation of the sets, and the ranges of on-the-fly mixing
dynamic_mixing=true # true: train on fresh mixtures every epoch (data/train_dm); false: data/train
decode_config=conf/decode.yaml    # enh_inference options
decode_model_config=conf/decode_model.yaml # overrides of the models' configs at decoding and packing
                                  # (mix_back: the input mixed back in); empty: none
inference_model=valid.loss.best.pth # checkpoint to decode, inside exp/enh_<tag>/
test_sets="test"    # sets to decode and score
peers="gtcrn dfn3"  # shipped peer systems enhanced and scored beside ours (empty: none); local/run_peers.sh
corpus_opts=        # extra options for local/make_embedded_corpus.sh (e.g. sizes for a tiny run)
train_args=         # extra options for the trainer, e.g. "--max_epoch 1"
train_jobs=         # runs trained at the same time; empty: 1 with --ngpu > 0, else up to 3 (~4 GB each)

help_message="Usage: $0 [options]
TF-GridNet DL vs PL speech enhancement on DNS5 (ESPnet recipe). Stages:
  0 build the embedded DNS5-layout corpus (skipped with --dns5-root)
  1 lists of 16 kHz clean speech, noise and RIRs      -> data/lists/
  2 simulate train/dev/test, list train_dm for on-the-fly mixing -> data/{train,dev,test,train_dm}/
  3 collect shape statistics                          -> exp/enh_stats_16k/
  4 train each model of --models                      -> exp/enh_<tag>/
  5 decode the test sets; enhance them with --peers   -> exp/enh_<tag>/decode_<set>/, exp/peer_<name>/
  6 score (PESQ, STOI, SI-SNR, DNSMOS) and report     -> RESULTS.md, egs/
  7 pack each model for pyscripts/enhance.py          -> exp/enh_<tag>/packed/<tag>.tar.gz"

. ./db.sh
dns5_root=${dns5_root:-${DNS5}}
. utils/parse_options.sh
. local/lib.sh
[ $# -eq 0 ] || { log "${help_message}"; log "Error: unexpected argument(s): $*"; exit 2; }

# Every option is checked before any work: a wrong value stops here, naming the option.
last_stage=7
check_int stage "${stage}" 0 "${last_stage}"
check_int stop_stage "${stop_stage}" 0 "${last_stage}"
[ "${stage}" -le "${stop_stage}" ] || die_usage "--stage ${stage} is after --stop-stage ${stop_stage}: nothing to do"
check_int nj "${nj}" 1
check_int ngpu "${ngpu}" 0
check_int num_nodes "${num_nodes}" 1
[ -z "${train_jobs}" ] || check_int train_jobs "${train_jobs}" 1
check_names subsets "${subsets}"
check_names test_sets "${test_sets}"
check_names peers "${peers}" gtcrn dfn3
check_names inference_model "${inference_model}"
for f in "${sim_config}" "${decode_config}" ${decode_model_config:+"${decode_model_config}"}; do
    [ -f "${f}" ] || die_usage "config file ${f} not found (--sim-config / --decode-config / --decode-model-config)"
done
if [ -n "${train_config}" ]; then
    [ -f "${train_config}" ] || die_usage "--train-config ${train_config} not found"
    tag=${tag:-$(basename "${train_config}" .yaml)}
    tag=${tag#train_}
    models=${tag}
fi
check_names models "${models}"
[ -n "${models// /}" ] || [ "${stop_stage}" -lt 4 ] ||
    die_usage "--models is empty: stages 4-7 need at least one model tag (e.g. --models \"dl pl\")"
config_of() { # the training config of model tag $1 (or of one of its seeds, $1 = <tag>_seed<s>)
    echo "${train_config:-conf/train_${1%_seed*}.yaml}"
}
for m in ${models}; do
    [ -f "$(config_of "${m}")" ] ||
        die_usage "--models: no config for model '${m}': $(config_of "${m}") (known:" \
            "$(find conf -maxdepth 1 -name 'train_*.yaml' | sed 's|^conf/train_||; s/\.yaml$//' | sort | tr '\n' ' '))"
done
read -r -a seed_list <<< "${seeds}"
[ "${#seed_list[@]}" -ge 1 ] || die_usage "--seeds is empty: give one seed or more (e.g. --seeds \"0 1 2\")"
for s in "${seed_list[@]}"; do check_int seeds "${s}" 0; done
# The models of the stages 4-7: one run per tag and seed, exp/enh_<tag> for seed 0 (the default run)
# and exp/enh_<tag>_seed<s> for another seed, so --seeds "0 1 2" after a default run trains two more.
runs=()
for m in ${models}; do
    for s in "${seed_list[@]}"; do
        s=$((10#${s}))
        if [ "${s}" -eq 0 ]; then runs+=("${m}"); else runs+=("${m}_seed${s}"); fi
    done
done
seed_of() { # the seed of a run: <tag>_seed<s> -> s; <tag> -> 0
    if [[ "$1" == *_seed* ]]; then echo "${1##*_seed}"; else echo 0; fi
}
if [ -z "${dns5_root}" ]; then
    dns5_root=downloads/dns5_embedded
    use_embedded=true
else
    use_embedded=false
    [ -d "${dns5_root}" ] || die_usage "--dns5-root ${dns5_root} does not exist"
fi

local/setup_env.sh
. ./path.sh
. ./cmd.sh

stage_enabled() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
requires() { # requires <path> <stage>: fail early when an earlier stage has not been run
    [ -e "$1" ] || die "$1 is missing: run stage $2 first (--stage $2)"
}

# One run.sh per recipe directory. The lock belongs to the open file (fd 9), which every job of the
# stages inherits: it is released when the last of them exits, also after a kill -9 of the run.
{ mkdir -p exp && exec 9>> exp/.run.lock; } 2> /dev/null ||
    { log "Error: cannot write exp/.run.lock in ${PWD}: is the folder read-only, or the disk full?"; exit 1; }
if ! flock -n 9; then
    log "Error: another run.sh is using exp/ (exp/.run.lock: $(cat exp/.run.lock)); wait for it or" \
        "stop it (its jobs hold the lock until they end)"
    exit 1
fi
echo "pid $$ on ${HOSTNAME}, started $(date '+%Y-%m-%dT%H:%M:%S')" > exp/.run.lock

stats_dir=exp/enh_stats_16k
valid_set=dev
if "${dynamic_mixing}"; then train_set=train_dm; else train_set=train; fi

if stage_enabled 0 && "${use_embedded}"; then
    log "Stage 0: embedded DNS5-layout corpus -> ${dns5_root}"
    read -r -a extra <<< "${corpus_opts}"
    local/make_embedded_corpus.sh --download-dir downloads --out "${dns5_root}" "${extra[@]}"
fi

if stage_enabled 1; then
    log "Stage 1: lists: ${dns5_root} -> data/lists/"
    local/prepare_dns5.sh --nj "${nj}" --cmd "${train_cmd}" --subsets "${subsets}" \
        "${dns5_root}" data/lists
fi

if stage_enabled 2; then
    log "Stage 2: simulation (${sim_config}): data/lists/ -> data/{train,dev,test}/"
    requires data/lists/clean/.done 1
    local/simulate.sh --nj "${nj}" --cmd "${train_cmd}" --sim-config "${sim_config}" data/lists data
fi

if stage_enabled 3; then
    log "Stage 3: shape statistics -> ${stats_dir}"
    requires "data/${train_set}/.done" 2
    local/collect_stats.sh --nj "${nj}" --cmd "${train_cmd}" \
        "data/${train_set}" "data/${valid_set}" "${stats_dir}"
fi

if stage_enabled 4; then
    requires "${stats_dir}/.done" 3
    # On CPU, small models train faster side by side with fewer threads each than one after another
    # with all cores (their small LSTM steps use 2 threads poorly; docs/progressive-learning.md).
    # OMP_NUM_THREADS set by the user wins.
    # A small-config training holds ~4 GB (the trainer and its loader worker), hence the memory cap.
    if [ -z "${train_jobs}" ]; then
        train_jobs=1
        if [ "${ngpu}" -eq 0 ]; then
            train_jobs=$(( ${#runs[@]} < 3 ? ${#runs[@]} : 3 ))
            mem_jobs=$(awk '/^MemAvailable:/ { print int($2 / (4 * 1024 * 1024)) }' /proc/meminfo 2> /dev/null) || true
            mem_jobs=${mem_jobs:-1}
            [ "${mem_jobs}" -ge 1 ] || mem_jobs=1
            [ "${mem_jobs}" -ge "${train_jobs}" ] || train_jobs=${mem_jobs}
        fi
    fi
    threads=$(( $(nproc 2> /dev/null || echo 1) / train_jobs ))
    threads=${OMP_NUM_THREADS:-$(( threads > 1 ? threads : 1 ))}
    train_one() { # train_one RUN: train one run (a model tag, or <tag>_seed<s>)
        log "Stage 4: training $1 ($(config_of "$1"), seed $(seed_of "$1")) -> exp/enh_$1"
        OMP_NUM_THREADS=${threads} local/train.sh --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num-nodes "${num_nodes}" \
            --seed "$(seed_of "$1")" --train-args "${train_args}" --sim-config "${sim_config}" "$(config_of "$1")" \
            "data/${train_set}" "data/${valid_set}" "${stats_dir}" "exp/enh_$1"
    }
    log "Stage 4: training ${#runs[@]} run(s), ${train_jobs} at a time (--train-jobs), ${threads} thread(s) each"
    run_batches "${train_jobs}" train_one "${runs[@]}"
fi

if stage_enabled 5; then
    log "Stage 5: enhancing data/{${test_sets// /,}} with ${runs[*]} ${peers:+and the peers ${peers}}"
    local/decode.sh --nj "${nj}" --cmd "${decode_cmd}" --ngpu "${ngpu}" --model "${inference_model}" \
        --decode-config "${decode_config}" --decode-model-config "${decode_model_config}" \
        --models "${runs[*]}" --peers "${peers}" --sets "${test_sets}"
fi

if stage_enabled 6; then
    log "Stage 6: scoring data/{${test_sets// /,}}: noisy ${runs[*]} ${peers}; report -> RESULTS.md, egs/"
    local/score.sh --nj "${nj}" --cmd "${decode_cmd}" --models "${runs[*]}" --peers "${peers}" \
        --sets "${test_sets}" --sim-config "${sim_config}"
fi

if stage_enabled 7; then
    for m in "${runs[@]}"; do
        requires "exp/enh_${m}/${inference_model}" 4
        log "Stage 7: packing ${m} (${inference_model}) -> exp/enh_${m}/packed/${m}.tar.gz"
        local/pack.sh --model "${inference_model}" --decode-model-config "${decode_model_config}" \
            "exp/enh_${m}" "exp/enh_${m}/packed/${m}.tar.gz"
    done
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
