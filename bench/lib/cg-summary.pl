#!/usr/bin/perl
# Summarises one callgrind_annotate output (run with --auto=no) per
# request, for bench/callgrind.
#
#   cg-summary.pl objects ANNOTATE REQUESTS         Ir/request by object
#   cg-summary.pl top ANNOTATE REQUESTS N [REGEX]   the N first functions,
#                                                   Ir/request; only those
#                                                   whose object matches
#                                                   REGEX, if given
#
# callgrind_annotate's lines: "1,234,567 (12.34%)  file:function [object]".

use strict;
use warnings;

my ($mode, $file, $n, $top, $re) = @ARGV;
die "usage: cg-summary.pl objects|top ANNOTATE REQUESTS [N [REGEX]]\n"
    unless defined $n && $n > 0 && $mode =~ /^(objects|top)$/;

open my $fh, '<', $file or die "cg-summary.pl: $file: $!\n";
my (@fn, %by);
my $in = 0;
while (my $l = <$fh>) {
    # the function list follows the "file:function" heading
    if ($l =~ /^Ir\s+file:function/) { $in = 1; next }
    next unless $in;
    next unless $l =~ /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s+\[(.*)\]\s*$/;
    my ($ir, $what, $obj) = ($1, $2, $3);
    $ir =~ s/,//g;
    $obj =~ s{.*/}{};
    $obj = 'the module' if $obj eq 'module.so';
    my ($src, $func) = $what =~ /^(.*):([^:]+)$/ ? ($1, $2) : ('???', $what);
    $src =~ s{.*/}{};
    push @fn, [$ir, $func, $src, $obj];
    $by{$obj} += $ir;
}
close $fh;

if ($mode eq 'objects') {
    my $total = 0;
    $total += $_ for values %by;
    for my $o (sort { $by{$b} <=> $by{$a} } keys %by) {
        last if $by{$o} / $n < 1;
        printf "  %10.0f  %5.1f %%  %s\n", $by{$o} / $n,
            $total ? 100 * $by{$o} / $total : 0, $o;
    }
    exit 0;
}

my $k = 0;
for my $f (@fn) {
    next if defined $re && $f->[3] !~ /$re/;
    last if $k++ >= ($top // 30);
    printf "  %10.0f  %-44s %s [%s]\n", $f->[0] / $n, $f->[1],
        $f->[2] eq '???' ? '' : $f->[2], $f->[3];
}
