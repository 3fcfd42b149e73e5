# shellcheck shell=bash
# Environment of the recipe: sourced by run.sh, local/*.sh and the tests.
# The Python environment: .venv (built by local/setup_env.sh, see README.md), or the environment
# RECIPE_ENV names (one you already have, checked by local/setup_env.sh; docs/install.md).
RECIPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RECIPE_ROOT
if [ -n "${RECIPE_ENV:-}" ]; then
    if [ -d "${RECIPE_ENV}" ]; then
        RECIPE_ENV="$(cd "${RECIPE_ENV}" && pwd)"
        export RECIPE_ENV
        export PATH="${RECIPE_ENV}/bin:${PATH}"
    else
        echo "path.sh: RECIPE_ENV=${RECIPE_ENV} is not a directory (an environment's prefix)" >&2
    fi
elif [ -f "${RECIPE_ROOT}/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${RECIPE_ROOT}/.venv/bin/activate"
fi
export PATH="${RECIPE_ROOT}/utils:${PATH}"
export PYTHONPATH="${RECIPE_ROOT}/pyscripts${PYTHONPATH:+:${PYTHONPATH}}"
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# g2p_en (imported by ESPnet's text frontend) tries to download nltk data at import; these
# valid empty archives make it stop trying (see docs/install.md). nltk refuses a data folder, or a
# file in it, that another account owns (root aside) or that is group- or world-writable (a clone
# made under umask 002, one owned by someone else): then it uses a private copy (0700, yours).
_recipe_nltk_refused() { # the first entry under $1 that nltk would refuse (nothing: all fine)
    find "$1" \( -perm /022 -o \! -uid "$(id -u)" \! -uid 0 \) -print -quit 2>/dev/null
}
_recipe_nltk_copy_ok() { # $2 is a copy of $1 that nltk accepts
    [ -d "$2" ] && [ -z "$(_recipe_nltk_refused "$2")" ] && diff -r "$1" "$2" >/dev/null 2>&1
}
_recipe_nltk_data() { # prints the folder to use for NLTK_DATA
    local src="${RECIPE_ROOT}/conf/nltk_data" base dst tmp
    if [ -z "$(_recipe_nltk_refused "${src}")" ]; then echo "${src}"; return; fi
    base=${XDG_CACHE_HOME:-${HOME:+${HOME}/.cache}}
    if [ -n "${base}" ]; then
        dst="${base}/espnet-recipe-nltk_data-$(id -u)"
        if [ -e "${dst}" ] && ! _recipe_nltk_copy_ok "${src}" "${dst}"; then rm -rf "${dst}"; fi
        # Made under umask 077, then moved into place whole: concurrent jobs never see half a copy.
        if [ ! -e "${dst}" ] && tmp=$(umask 077 && mkdir -p "${base}" && mktemp -d "${dst}.XXXXXX" 2>/dev/null); then
            if (umask 077 && cp -R "${src}/." "${tmp}/"); then mv -T "${tmp}" "${dst}" 2>/dev/null || true; fi
            rm -rf "${tmp}"
        fi
        if _recipe_nltk_copy_ok "${src}" "${dst}"; then echo "${dst}"; return; fi
    fi
    # No cache folder to write to: a private temporary copy.
    if tmp=$(umask 077 && mktemp -d) && (umask 077 && cp -R "${src}/." "${tmp}/"); then echo "${tmp}"; return; fi
    echo "${src}"
}
NLTK_DATA="$(_recipe_nltk_data)"
export NLTK_DATA
unset -f _recipe_nltk_refused _recipe_nltk_copy_ok _recipe_nltk_data
# OpenMP threads that spin while waiting made training steps 2-10x slower on a loaded 2-core
# machine (measured); passive waiting costs nothing when the machine is idle.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
