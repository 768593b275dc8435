#!/usr/bin/perl
# Replaces what lies between "<!-- NAME:begin -->" and "<!-- NAME:end -->"
# in FILE with the contents of SNIPPET (the markers stay).
#
#   splice.pl FILE NAME SNIPPET
#
# Exits 1, leaving FILE as it was, when the markers are not there.

use strict;
use warnings;

my ($file, $name, $snip) = @ARGV;
die "usage: splice.pl FILE NAME SNIPPET\n" unless defined $snip;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "splice.pl: $f: $!\n"; local $/; scalar <$fh> }

my $text = slurp($file);
my $new = slurp($snip);
$new .= "\n" unless $new =~ /\n\z/;
my ($b, $e) = ("<!-- $name:begin -->", "<!-- $name:end -->");
$text =~ s/(\Q$b\E\n).*?(\Q$e\E)/$1\n$new\n$2/s or exit 1;
open my $fh, '>', "$file.tmp" or die "splice.pl: $file.tmp: $!\n";
print $fh $text;
close $fh or die "splice.pl: $file.tmp: $!\n";
rename "$file.tmp", $file or die "splice.pl: $file: $!\n";
