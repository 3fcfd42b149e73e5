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

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
SECONDS=0
cd "$(dirname "$0")"

stage=0             # first stage to run
stop_stage=7        # last stage to run
nj=2                # parallel jobs for data preparation, decoding and scoring
ngpu=0              # GPUs for training (per node) and decoding (0: CPU); more than 1: DDP
num_nodes=1         # nodes for training (more than 1: cmd.sh's slurm back-end; docs/cluster.md)
dns5_root=          # DNS5 download (the folder holding datasets_fullband/); empty: embedded corpus
subsets=read_speech # clean_fullband subsets to use
models="dl pl"      # model tags; tag X trains conf/train_X.yaml into exp/enh_X
train_config=       # train one config instead of --models (its tag: --tag or the file name)
tag=                # experiment tag for --train-config
sim_config=conf/simulation.yaml   # simulation of the sets, and the ranges of on-the-fly mixing
dynamic_mixing=true # true: train on fresh mixtures every epoch (data/train_dm); false: data/train
decode_config=conf/decode.yaml    # enh_inference options
inference_model=valid.loss.best.pth # checkpoint to decode, inside exp/enh_<tag>/
test_sets="test"    # sets to decode and score
peers="gtcrn dfn3"  # shipped peer systems enhanced and scored beside ours (empty: none); local/run_peers.sh
corpus_opts=        # extra options for local/make_embedded_corpus.sh (e.g. sizes for a tiny run)
train_args=         # extra options for the trainer, e.g. "--max_epoch 1"

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
[ $# -eq 0 ] || { log "${help_message}"; log "Error: unexpected argument(s): $*"; exit 2; }

local/setup_env.sh
. ./path.sh
. ./cmd.sh

stage_enabled() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
requires() { # requires <path> <stage>: fail early when an earlier stage has not been run
    [ -e "$1" ] || { log "Error: $1 is missing: run stage $2 first (--stage $2)"; exit 1; }
}

if [ -n "${train_config}" ]; then
    [ -f "${train_config}" ] || { log "Error: --train-config ${train_config} not found"; exit 2; }
    tag=${tag:-$(basename "${train_config}" .yaml)}
    tag=${tag#train_}
    models=${tag}
fi
config_of() { # the training config of model tag $1
    local config=${train_config:-conf/train_$1.yaml}
    [ -f "${config}" ] || { log "Error: no config for model '$1': ${config}"; exit 2; }
    echo "${config}"
}
if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    for m in ${models}; do config_of "${m}" > /dev/null; done
fi

if [ -z "${dns5_root}" ]; then
    dns5_root=downloads/dns5_embedded
    use_embedded=true
else
    use_embedded=false
    [ -d "${dns5_root}" ] || { log "Error: --dns5-root ${dns5_root} does not exist"; exit 2; }
fi

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
    # shellcheck disable=SC2086
    local/make_embedded_corpus.sh --download-dir downloads --out "${dns5_root}" ${corpus_opts}
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
    for m in ${models}; do
        log "Stage 4: training ${m} ($(config_of "${m}")) -> exp/enh_${m}"
        local/train.sh --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num-nodes "${num_nodes}" \
            --train-args "${train_args}" --sim-config "${sim_config}" "$(config_of "${m}")" \
            "data/${train_set}" "data/${valid_set}" "${stats_dir}" "exp/enh_${m}"
    done
fi

if stage_enabled 5; then
    for m in ${models}; do
        requires "exp/enh_${m}/${inference_model}" 4
        for dset in ${test_sets}; do
            log "Stage 5: decoding data/${dset} with ${m} -> exp/enh_${m}/decode_${dset}"
            local/decode.sh --nj "${nj}" --cmd "${decode_cmd}" --ngpu "${ngpu}" \
                --model "${inference_model}" --decode-config "${decode_config}" \
                "exp/enh_${m}" "data/${dset}" "exp/enh_${m}/decode_${dset}"
        done
    done
    if [ -n "${peers}" ]; then
        for dset in ${test_sets}; do
            log "Stage 5: enhancing data/${dset} with the peers ${peers} -> exp/peer_<name>/decode_${dset}"
            local/run_peers.sh --systems "${peers}" --data "data/${dset}"
        done
    fi
fi

if stage_enabled 6; then
    systems=() # exp/<dir> of every enhanced system: our models, then the peers
    for m in ${models}; do systems+=("enh_${m}"); done
    for p in ${peers}; do systems+=("peer_${p}"); done
    for dset in ${test_sets}; do
        ref_opt=()
        [ -f "data/${dset}/spk1.scp" ] && ref_opt=(--ref-scp "data/${dset}/spk1.scp")
        log "Stage 6: scoring ${dset}: noisy ${systems[*]}"
        local/score.sh --nj "${nj}" --cmd "${decode_cmd}" "${ref_opt[@]}" \
            "data/${dset}/wav.scp" "exp/noisy/decode_${dset}/scoring"
        for dir in "${systems[@]}"; do
            requires "exp/${dir}/decode_${dset}/spk1.scp" 5
            local/score.sh --nj "${nj}" --cmd "${decode_cmd}" "${ref_opt[@]}" \
                "exp/${dir}/decode_${dset}/spk1.scp" "exp/${dir}/decode_${dset}/scoring"
        done
    done
    log "Stage 6: report -> RESULTS.md, egs/"
    local/report.sh --models "${models}" --peers "${peers}" --test-sets "${test_sets}" \
        --sim-config "${sim_config}"
fi

if stage_enabled 7; then
    for m in ${models}; do
        requires "exp/enh_${m}/${inference_model}" 4
        log "Stage 7: packing ${m} (${inference_model}) -> exp/enh_${m}/packed/${m}.tar.gz"
        local/pack.sh --model "${inference_model}" "exp/enh_${m}" "exp/enh_${m}/packed/${m}.tar.gz"
    done
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
