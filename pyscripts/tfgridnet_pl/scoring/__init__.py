"""Scoring: PESQ, STOI and SI-SNR, offline DNSMOS, and the per-utterance scores of score_enh.py."""
