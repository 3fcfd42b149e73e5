"""The embedded corpus: a small DNS5-layout tree built offline from three Debian packages.

    python3 -m local.embedded_corpus --pkgs-dir downloads/pkgs --out downloads/dns5_embedded [--seed 0]

(from the recipe root, after ``. ./path.sh``; ``local/make_embedded_corpus.sh`` fetches and extracts
the packages first). Modules, in the order the build uses them:

    cli       the command line: option check, --check, the lock, the log of what was built
    options   the options that decide the output, and whether <out> was built with them
    build     scan the packages, render every file in parallel, write the extras, swap into place
    sources   the packages: who speaks in which file, decoding
    clean     clean clips of one speaker
    noise     babble, coloured noise and Sonic Pi noise files
    rirs      simulated room impulse responses
    audio     seeded RNGs, silence trimming, levels, resampling, noise colours
    readme    README.md of a built corpus
"""
