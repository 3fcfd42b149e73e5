#!/usr/bin/env perl
# utt2spk_to_spk2utt.pl: turn "utt spk" lines into "spk utt1 utt2 ..." lines.
#
#   utt2spk_to_spk2utt.pl [utt2spk] > spk2utt
#
# Speakers come out in the order of their first utterance, utterances in input order (so a sorted
# utt2spk with speaker-prefixed keys gives a sorted spk2utt). Reads stdin when no file is given.
# A line without exactly two fields is an error naming the file and line.
use strict;
use warnings;

my $name = @ARGV ? $ARGV[0] : 'stdin';
my (@order, %utts);
while (my $line = <>) {
    my @f = split ' ', $line;
    next unless @f;
    if (@f != 2) {
        print STDERR "utt2spk_to_spk2utt.pl: $name line $.: expected 'utt spk', got '" . join(' ', @f) . "'\n";
        exit 1;
    }
    my ($utt, $spk) = @f;
    push @order, $spk unless exists $utts{$spk};
    push @{ $utts{$spk} }, $utt;
}
print join(' ', $_, @{ $utts{$_} }), "\n" for @order;
