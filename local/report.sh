#!/usr/bin/env bash
# Stage 6 (report, after local/score.sh): model complexity, spectrogram and training-curve figures,
# then RESULTS.md (which links the figures that exist). A step (local/lib.sh) with its marker in
# exp/report/, keyed on the options and on the markers of every training and scoring it reports.
#
#   local/report.sh [options]
set -euo pipefail

models="dl pl"                  # model tags (exp/enh_<tag>)
peers=                          # peer systems (exp/peer_<name>), rows of their own in RESULTS.md
test_sets="test"                # scored sets
sim_config=conf/simulation.yaml # recorded in RESULTS.md
figure_set=                     # set for the spectrogram figure (default: first of --test-sets)
figure_utt=                     # utterance for the figure (default: first key of that set)
results=RESULTS.md

help_message="Usage: $0 [options]"
. utils/parse_options.sh
. local/lib.sh
expect_args 0 "$@"

# The runs at several seeds that the spread over seeds combines (local/seed_runs.sh).
read -r -a seed_runs <<< "$(local/seed_runs.sh --set "${test_sets%% *}" "${models}")"
keys=("models=${models}" "peers=${peers}" "seed_runs=${seed_runs[*]}" "test_sets=${test_sets}" "file:${sim_config}" "results=${results}"
    "figure=${figure_set} ${figure_utt}")
for dset in ${test_sets}; do
    for dir in noisy $(for m in ${models}; do echo "enh_${m}"; done) $(for p in ${peers}; do echo "peer_${p}"; done); do
        keys+=("file:exp/${dir}/decode_${dset}/scoring/.done")
    done
done
for m in ${models} "${seed_runs[@]}"; do keys+=("file:exp/enh_${m}/.done"); done
for m in "${seed_runs[@]}"; do keys+=("file:exp/enh_${m}/decode_${test_sets%% *}/scoring/.done"); done
key=$(key_of "${keys[@]}")
if step_done exp/report "${key}" && [ -f "${results}" ]; then
    log "${results} and egs/ are up to date with the scores of ${models} ${peers}"
    exit 0
fi
step_begin exp/report "${key}"
for m in ${models}; do
    exp=exp/enh_${m}
    log "Complexity of ${m}"
    python3 pyscripts/complexity.py --config "${exp}/config.yaml" --out "${exp}/complexity.json"
done

figure_set=${figure_set:-${test_sets%% *}}
label_of() { # dl -> DL, pl_relative -> PL-relative (the seed of <tag>_seed<s> left out)
    local tag=${1%_seed*} first
    first=${tag%%_*}
    if [ "${tag}" = "${first}" ]; then echo "${first^^}"; else echo "${first^^}-${tag#*_}"; fi
}
# The figures show one seed of each model: the first one of the run (all models when no seeds).
figure_models=()
first=${models%% *}
for m in ${models}; do
    if [[ "${m}" != *_seed* ]] || [ "${m##*_seed}" = "${first##*_seed}" ]; then figure_models+=("${m}"); fi
done
if [ -f "data/${figure_set}/spk1.scp" ]; then
    figure_utt=${figure_utt:-$(head -n 1 "data/${figure_set}/wav.scp" | cut -d' ' -f1)}
    inputs=(--wav "clean=$(grep -m1 "^${figure_utt} " "data/${figure_set}/spk1.scp" | cut -d' ' -f2-)"
        --wav "noisy=$(grep -m1 "^${figure_utt} " "data/${figure_set}/wav.scp" | cut -d' ' -f2-)")
    for m in "${figure_models[@]}"; do
        scp=exp/enh_${m}/decode_${figure_set}/spk1.scp
        inputs+=(--wav "$(label_of "${m}")=$(grep -m1 "^${figure_utt} " "${scp}" | cut -d' ' -f2-)")
    done
    python3 pyscripts/plot_spectrograms.py "${inputs[@]}" --title "${figure_set}: ${figure_utt}" \
        --out-dir egs --name spectrograms
fi
curves=()
for m in "${figure_models[@]}"; do curves+=(--exp "$(label_of "${m}")=exp/enh_${m}"); done
python3 pyscripts/plot_training_curves.py "${curves[@]}" --out egs/training_curves.png
systems="noisy ${models} $(for p in ${peers}; do printf 'peer_%s ' "${p}"; done)"
python3 pyscripts/make_results.py --exp exp --sets "${test_sets}" --systems "${systems}" \
    --seed-systems "${seed_runs[*]}" --sim-config "${sim_config}" --out "${results}"
step_end exp/report
log "Wrote ${results} and figures in egs/"
