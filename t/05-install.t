# make install puts the module in apxs's LIBEXECDIR, the daemons in sbindir
# and the example configs in sysconfdir; the installed module loads.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use TilerTest;

my $top = $TilerTest::TOP;
my $dest = tempdir('install-XXXXXX', DIR => $TilerTest::BASE, CLEANUP => 1);
my $out = `make -C $top install DESTDIR=$dest 2>&1`;
is($?, 0, 'make install DESTDIR=... succeeds') or diag($out);

chomp(my $libexec = `apxs -q LIBEXECDIR`);
my %vars = map { /^(\w+) = (.*)$/ ? ($1 => $2) : () } split /\n/, `make -C $top -s -p -n install 2>/dev/null`;
my $prefix = $vars{prefix} // '/usr/local';
my $sbindir = ($vars{sbindir} // '${exec_prefix}/sbin') =~ s/\$\{exec_prefix\}/$prefix/r;
my $sysconfdir = ($vars{sysconfdir} // '${prefix}/etc') =~ s/\$\{prefix\}/$prefix/r;

ok(-f "$dest$libexec/mod_tiler.so", "module in apxs LIBEXECDIR ($libexec)");
ok(!-e "$dest$libexec/mod_tiler.la", 'no libtool archive beside it');
ok(-x "$dest$sbindir/tiler-worker", "tiler-worker in sbindir ($sbindir)");
ok(-x "$dest$sbindir/tiler-monitor", 'tiler-monitor in sbindir');
ok(-f "$dest$sysconfdir/mod_tiler/$_", "$_ in sysconfdir/mod_tiler") for qw(tiler.conf tiler-worker.conf tiler-monitor.conf topics.md);
my $htdocs = "$prefix/share/mod_tiler/htdocs";   # TilerHtdocsDir's default, $(datadir)/mod_tiler/htdocs
ok(-f "$dest$htdocs/$_", "$_ in the pages' directory ($htdocs)")
    for qw(index.html job.js style.css openseadragon.min.js openseadragon-LICENSE.txt);

# The installed module loads into httpd and its example config parses.
my $conf = "$dest/test.conf";
TilerTest::spew($conf, <<"CONF");
ServerRoot "$dest"
ServerName 127.0.0.1
ErrorLog "$dest/error.log"
Listen 127.0.0.1:1
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule tiler_module "$dest$libexec/mod_tiler.so"
Include "$dest$sysconfdir/mod_tiler/tiler.conf"
CONF
$out = `apache2 -t -f $conf 2>&1`;
is($?, 0, 'installed module loads and the example tiler.conf parses') or diag($out);

my $v = `$dest$sbindir/tiler-worker --version`;
like($v, qr/^tiler-worker \d+\.\d+\.\d+ \(test hooks: (?:on|off)\)$/, 'installed worker runs');
done_testing;
