#!/usr/bin/env perl
# spk2utt_to_utt2spk.pl: turn "spk utt1 utt2 ..." lines into "utt spk" lines.
#
#   spk2utt_to_utt2spk.pl [spk2utt] > utt2spk
#
# Utterances come out in input order (pipe through "sort" for a Kaldi-sorted utt2spk). Reads stdin
# when no file is given. A speaker without utterances is an error naming the file and line.
use strict;
use warnings;

my $name = @ARGV ? $ARGV[0] : 'stdin';
while (my $line = <>) {
    my ($spk, @utts) = split ' ', $line;
    next unless defined $spk;
    if (!@utts) {
        print STDERR "spk2utt_to_utt2spk.pl: $name line $.: speaker '$spk' has no utterances\n";
        exit 1;
    }
    print "$_ $spk\n" for @utts;
}
