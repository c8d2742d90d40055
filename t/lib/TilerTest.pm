package TilerTest;
# The integration-test harness: a real Apache httpd (Debian's binary) with
# mod_tiler loaded from the build tree, real tiler-worker and tiler-monitor
# processes, and the real Kafka broker that scripts/kafka runs. Each test
# file gets its own topic and group names, so files never see each other's
# messages. At the end the error log is read and any unexpected line fails.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX ":sys_wait_h";
use Time::HiRes qw(sleep time);
use Test::More;

our $TOP = abs_path(dirname(__FILE__) . '/../..');
# Where the built binaries are: the checkout, or another build tree (the
# sanitizer build of scripts/check).
our $BUILD = $ENV{TILER_BUILD_DIR} ? abs_path($ENV{TILER_BUILD_DIR}) : $TOP;
# A module built with AddressSanitizer needs its runtime loaded first.
our $PRELOAD = $ENV{TILER_ASAN_PRELOAD} ? "env LD_PRELOAD=$ENV{TILER_ASAN_PRELOAD} ASAN_OPTIONS=detect_leaks=0 " : '';
my $json = JSON::PP->new->canonical;
# Files the tests make (configs, the monitor's snapshot) are read by httpd's children.
umask 022;

# Runs a function of scripts/lib.sh, the one place that knows where runs go
# and what httpd's children can read; returns its output.
sub lib_sh {
    my ($fn, @args) = @_;
    open my $fh, '-|', 'bash', '-c', '. "$0" && "$@"', "$TOP/scripts/lib.sh", $fn, @args or die "bash: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh or die "scripts/lib.sh $fn @args failed\n";
    chomp $out;
    return $out;
}

# Where the tests' directories go: t/run/ in the checkout, or beside it under
# /var/tmp when httpd's children (www-data, as root) cannot read the checkout.
our $BASE = $ENV{TILER_TEST_DIR} // lib_sh('run_root') . '/t/run';
make_path($BASE);

sub new {
    my ($class, %o) = @_;
    my $name = $o{name} or die "name";
    my $self = bless {
        name => $name,
        kafka_port => $ENV{TILER_KAFKA_PORT} // 9092,
        http_port => $o{http_port} // free_port(18000 + ($$ % 1000) * 2),
        http_host => $o{http_host} // '127.0.0.1',
        # Commands to run a component inside a network namespace: key => [ip netns exec NS]
        exec_prefix => $o{exec_prefix} // {},
        directives => $o{directives} // '',
        location_extra => $o{location_extra} // '',
        allow_log => $o{allow_log} // [],
        pids => {},
        owner => $$,   # a forked copy must not stop what the test runs
    }, $class;
    $self->{brokers} = $o{brokers} // "127.0.0.1:$self->{kafka_port}";
    my $tag = "$name-$$";
    $self->{topics} = { tasks => "t-$tag-tasks", results => "t-$tag-results", heartbeats => "t-$tag-hb",
                        dead_letters => "t-$tag-dlq" };
    $self->{groups} = { workers => "g-$tag-workers", results => "g-$tag-results", monitor => "g-$tag-monitor" };
    $self->{dir} = tempdir("$name-XXXXXX", DIR => $BASE, CLEANUP => 0);
    chmod 0755, $BASE, $self->{dir};
    lib_sh('check_run_dir', $self->{dir});
    $self->{url} = "http://$self->{http_host}:$self->{http_port}";
    $self->{http} = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
    $self->own_broker if $o{own_broker};
    return $self;
}

# A broker of the test's own, in its directory, for a test that kills or
# restarts it: the shared broker stays up for the files running beside it
# (scripts/check runs two at a time).
sub own_broker {
    my ($self) = @_;
    # Above the range of the tests' httpd ports (18000-20199), which are
    # picked free but bound only when httpd starts.
    my $port = free_port(21000 + ($$ % 400) * 2);
    my $cport = free_port($port + 1);
    $self->{own_kafka} = "env TILER_KAFKA_PORT=$port TILER_KAFKA_CONTROLLER_PORT=$cport TILER_RUN_DIR=$self->{dir}";
    $self->{kafka_port} = $port;
    $self->{brokers} = "127.0.0.1:$port";
    # die, not BAIL_OUT: that would stop the file running beside this one too.
    $self->kafka('start') or die "the test's own broker on port $port did not start; see $self->{dir}/kafka\n";
}

# scripts/kafka start|stop|kill on the test's own broker; true on success.
sub kafka {
    my ($self, $cmd) = @_;
    die 'kafka(): the test has no broker of its own' unless $self->{own_kafka};
    return system("$self->{own_kafka} $TOP/scripts/kafka $cmd >/dev/null 2>&1") == 0;
}

# The first port from $from on that is free now: tests of other checkouts may
# run beside these. A port picked here is bound only later, so the ranges
# it scans (200 ports on) must not overlap: each file's httpd from
# 18000-19998 (by pid), a file's own broker from 21000-21798, t/02's broker
# from 22600 and httpd from 23000, t/06's httpd from 23400, t/48's closed
# port from 23800.
sub free_port {
    my ($from) = @_;
    for my $p ($from .. $from + 200) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1, ReuseAddr => 1) or next;
        close $s;
        return $p;
    }
    die "no free port from $from";
}

sub dir { $_[0]{dir} }
sub url { $_[0]{url} }
sub bin { "$BUILD/$_[1]" }

sub kafka_ready {
    my ($self) = @_;
    return system("kcat -b $self->{brokers} -L -m 3 >/dev/null 2>&1") == 0;
}

sub write_httpd_conf {
    my ($self) = @_;
    my $d = $self->{dir};
    make_path("$d/htdocs", "$d/logs", "$d/run");
    my $pages = lib_sh('pages_dir', "$d/pages");
    my $mods = '/usr/lib/apache2/modules';
    my $user = $> == 0 ? "User www-data\nGroup www-data\n" : '';
    open my $fh, '>', "$d/httpd.conf" or die $!;
    print $fh <<"CONF";
ServerRoot "$d"
ServerName 127.0.0.1
Listen $self->{http_host}:$self->{http_port}
PidFile "$d/run/httpd.pid"
DefaultRuntimeDir "$d/run"
ErrorLog "$d/logs/error.log"
LogLevel warn tiler:info
# As Debian's conf-available/security.conf: TRACE echoes requests back.
TraceEnable Off
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authn_file_module $mods/mod_authn_file.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule auth_basic_module $mods/mod_auth_basic.so
LoadModule tiler_module "$BUILD/mod_tiler/.libs/mod_tiler.so"
$user
StartServers 2
MinSpareThreads 16
MaxSpareThreads 48
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
GracefulShutdownTimeout 5
DocumentRoot "$d/htdocs"
TilerBrokers $self->{brokers}
TilerSpoolDir "$d/spool"
TilerTasksTopic $self->{topics}{tasks}
TilerResultsTopic $self->{topics}{results}
TilerHeartbeatsTopic $self->{topics}{heartbeats}
TilerDeadLetterTopic $self->{topics}{dead_letters}
TilerResultsGroup $self->{groups}{results}
TilerWorkerGroup $self->{groups}{workers}
TilerMonitorSnapshot "$d/monitor/workers.json"
TilerHtdocsDir "$pages"
$self->{directives}
<Location /tiler>
    SetHandler tiler
$self->{location_extra}
</Location>
CONF
    close $fh;
}

sub start_httpd {
    my ($self) = @_;
    $self->write_httpd_conf;
    my $pre = join ' ', @{ $self->{exec_prefix}{httpd} || [] };
    my $out = `$pre $PRELOAD apache2 -f $self->{dir}/httpd.conf -k start 2>&1`;
    die "httpd did not start: $out" if $?;
    for (1 .. 100) {
        # httpd detaches into a session of its own: its pid is its children's
        # process group, by which they are stopped even when it is gone.
        # (apache2 -k start may return before the pid file is written.)
        $self->{httpd_group} //= $self->httpd_pid;
        my $r = $self->{http}->get("$self->{url}/tiler/api/jobs");
        return 1 if $r->{status} < 500 && ($self->{httpd_group} //= $self->httpd_pid);   # 401 where auth is on
        sleep 0.1;
    }
    die "httpd does not answer on $self->{url}";
}

sub httpd_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/run/httpd.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

# The pid of the httpd child that holds the results consumer now.
sub results_consumer_pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return;
    my %running;
    while (<$fh>) {
        $running{$1} = 1 if /AH30315: results consumer started in pid (\d+)/;
        delete $running{$1} if /AH30317: results consumer stopped in pid (\d+)/;
    }
    my @alive = grep { kill 0, $_ } keys %running;
    return @alive == 1 ? $alive[0] : undef;
}

# Stops httpd and waits for all its processes: children that outlive their
# parent (killed, or slower than its stop) are killed as a group.
# SIGTERM is what `apache2 -k stop` sends, without loading the config: under
# the sanitizer build that needs the ASan runtime preloaded, and a failed
# stop left children behind.
sub stop_httpd {
    my ($self) = @_;
    my $group = delete $self->{httpd_group} // $self->httpd_pid or return;
    my $stopped = 0;
    if (grep { $_ == $group } group_members($group)) {   # the parent lives
        kill 'TERM', $group;
        for (1 .. 150) { if (!group_members($group)) { $stopped = 1; last } sleep 0.1; }
    }
    stop_group($group, 0) unless $stopped;
    # A killed parent leaves its pid file, and until someone reaps the zombie
    # `apache2 -k start` would take it for a running server and do nothing.
    unlink "$self->{dir}/run/httpd.pid";
    return $stopped;
}

# The live processes of a process group (zombies are dead already).
sub group_members {
    my ($pgid) = @_;
    my @live;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $l = <$fh> // next;
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        push @live, $1 if $l =~ /^(\d+) \(.*\) (\S) \d+ (\d+) / && $2 ne 'Z' && $3 == $pgid;
    }
    return @live;
}

# SIGTERM to a whole process group, SIGKILL after $grace seconds; returns
# once none of it is left.
sub stop_group {
    my ($pgid, $grace) = @_;
    return 1 unless $pgid && group_members($pgid);
    kill 'TERM', -$pgid if $grace;
    my $deadline = time + $grace;
    while (time < $deadline) { return 1 unless group_members($pgid); sleep 0.05; }
    kill 'KILL', -$pgid;
    for (1 .. 100) { return 1 unless group_members($pgid); sleep 0.05; }
    warn "process group $pgid outlives SIGKILL: " . join(' ', group_members($pgid)) . "\n";
    return 0;
}

# Starts a daemon in the foreground of a child process, stderr to a log.
sub spawn {
    my ($self, $key, @cmd) = @_;
    my $log = "$self->{dir}/logs/$key.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # Its own process group: fault tests signal a worker and its child together.
        POSIX::setpgid(0, 0);
        %ENV = (%ENV, %{ $self->{spawn_env} || {} });
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        my ($kind) = $key =~ /^([a-z]+?)\d*$/;
        my @pre = @{ $self->{exec_prefix}{$key} || $self->{exec_prefix}{$kind} || [] };
        exec @pre, @cmd or die "exec $cmd[0]: $!";
    }
    $self->{pids}{$key} = $pid;
    return $pid;
}

# start_worker(N, ENV => VALUE, ..., args => [extra flags])
sub start_worker {
    my ($self, $n, %env) = @_;
    my $args = delete $env{args} // [];
    local $self->{spawn_env} = \%env;
    return $self->spawn("worker$n", $self->bin('tiler-worker/tiler-worker'), '--foreground',
        '--brokers', $self->{brokers}, '--group', $self->{groups}{workers},
        '--tasks-topic', $self->{topics}{tasks}, '--results-topic', $self->{topics}{results},
        '--heartbeats-topic', $self->{topics}{heartbeats}, '--dead-letter-topic', $self->{topics}{dead_letters},
        '--id', "worker$n-$self->{name}",
        '--heartbeat-ms', 1000, '--log-level', 'info', @$args);
}

sub start_monitor {
    my ($self) = @_;
    make_path("$self->{dir}/monitor");
    chmod 0755, "$self->{dir}/monitor";
    return $self->spawn('monitor', $self->bin('tiler-monitor/tiler-monitor'), '--foreground',
        '--brokers', $self->{brokers}, '--group', $self->{groups}{monitor}, '--workers-group', $self->{groups}{workers},
        '--tasks-topic', $self->{topics}{tasks}, '--results-topic', $self->{topics}{results},
        '--heartbeats-topic', $self->{topics}{heartbeats}, '--dead-letter-topic', $self->{topics}{dead_letters},
        '--snapshot', "$self->{dir}/monitor/workers.json",
        '--dead-after-ms', 5000);
}

# Signals a daemon, waits for it (SIGKILL after 10 s) and returns its wait
# status (-1 when killed), then stops what it left in its process group (a
# supervisor's worker, when the supervisor was killed).
sub stop_process {
    my ($self, $key, $sig) = @_;
    my $pid = delete $self->{pids}{$key} or return;
    kill $sig // 'TERM', $pid;
    my $status = -1;
    for (1 .. 200) {
        if (waitpid($pid, WNOHANG) == $pid) { $status = $?; last }
        sleep 0.05;
    }
    if ($status == -1) { kill 'KILL', $pid; waitpid($pid, 0); }
    stop_group($pid, 5);
    return $status;
}

sub start_all {
    my ($self, %o) = @_;
    # scripts/check starts a broker and wants it used: never a silent skip there.
    need($self->kafka_ready, "a Kafka broker on $self->{brokers} (scripts/kafka start)");
    $self->start_httpd;
    $self->start_worker($_) for 1 .. ($o{workers} // 2);
    $self->start_monitor if $o{monitor} // 1;
}

# ---- HTTP ----

sub request {
    my ($self, $method, $path, %o) = @_;
    my $r = $self->{http}->request($method, "$self->{url}$path", \%o);
    my $body = $r->{content} // '';
    my $data;
    if (($r->{headers}{'content-type'} // '') =~ m{^application/json}) {
        $data = eval { decode_json($body) };
    }
    return ($r, $data);
}

sub submit {
    my ($self, $file, $ops, %o) = @_;
    my %by_ext = (jpg => 'image/jpeg', jpeg => 'image/jpeg', webp => 'image/webp', gif => 'image/gif', bmp => 'image/bmp');
    my ($ext) = $file =~ /\.(\w+)$/;
    my $type = $o{type} // $by_ext{lc($ext // '')} // 'image/png';
    my $q = "ops=$ops" . ($o{format} ? "&format=$o{format}" : '')
          . ($o{compression} ? "&compression=$o{compression}" : '');
    return $self->request('POST', "/tiler/api/jobs?$q", content => slurp($file),
                          headers => { 'Content-Type' => $type });
}

# Polls a job until done or failed (or the timeout); returns the last status
# and every state seen, in order.
sub wait_job {
    my ($self, $id, $timeout) = @_;
    my @states;
    my $deadline = time + ($timeout // 120);
    my $last;
    while (time < $deadline) {
        my ($r, $j) = $self->request('GET', "/tiler/api/jobs/$id");
        if ($j) {
            push @states, [$j->{state}, $j->{tiles_done}];
            $last = $j;
            return ($j, \@states) if $j->{state} eq 'done' || $j->{state} eq 'failed';
        }
        sleep 0.02;
    }
    return ($last, \@states);
}

# Polls the monitor (through httpd) until it reports at least $n live
# workers or the timeout passes; returns the last /api/workers body. The
# monitor reads heartbeats from the latest offset, so a monitor that joins its
# group after a worker's beat hears that worker only at its next beat.
sub wait_workers_alive {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    my $last;
    while (time < $deadline) {
        my (undef, $d) = $self->request('GET', '/tiler/api/workers');
        $last = $d if $d;
        return $d if $d && (grep { $_->{state} eq 'alive' } @{ $d->{workers} || [] }) >= $n;
        sleep 0.2;
    }
    return $last;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $data;
    close $fh;
}

# ---- images ----

sub make_image {
    my ($self, $name, $w, $h, $fmt, $alpha, $seed) = @_;
    my $path = "$self->{dir}/$name";
    # $alpha: true for transparency everywhere, or 'alpha-below:ROW'.
    system($self->bin('t/tools/tiler-testimg'), $path, $w, $h, $fmt // 'png', $alpha ? ($alpha =~ /^alpha/ ? $alpha : 'alpha') : 'opaque', $seed // 1) == 0
        or die "tiler-testimg failed";
    return $path;
}

sub local_result {
    my ($self, $in, $ops, $format, $compression) = @_;
    my $out = "$in.local-" . ($ops =~ s/[^a-z0-9.-]+/_/gr) . ($compression ? "-$compression" : '') . '.' . ($format // 'png');
    return $out if -s $out;   # the same input and chain were run before
    my $rc = system($self->bin('tiler-worker/tiler-worker'), '--local', $in, $out, '--ops', $ops, '--format', $format // 'png',
                    $compression ? ('--compression', $compression) : ());
    die "local mode failed for $ops" if $rc;
    return $out;
}

# "identical: WxH" or the difference; second value true when identical.
sub imgcmp {
    my ($self, $a, $b) = @_;
    my $bin = $self->bin('t/tools/tiler-imgcmp');
    my $out = `$bin $a $b 2>&1`;
    chomp $out;
    return ($out, $? == 0);
}

# The same in bounded memory, row hashes only (images too big to hold).
sub imgcmp_stream {
    my ($self, $a, $b) = @_;
    my $bin = $self->bin('t/tools/tiler-imgcmp');
    my $out = `$bin --stream $a $b 2>&1`;
    chomp $out;
    return ($out, $? == 0);
}

# Downloads the job's result and compares its pixels with local mode on the
# same input. Returns (message, identical).
sub matches_local {
    my ($self, $id, $input, $ops, $format, $compression) = @_;
    my ($r) = $self->request('GET', "/tiler/api/jobs/$id/result");
    my $out = "$self->{dir}/$id.result";
    spew($out, $r->{content} // '');
    return $self->imgcmp($out, $self->local_result($input, $ops, $format, $compression));
}

# ---- the error log ----

# Warnings httpd may write in any test and that say nothing about mod_tiler.
# Everything else at warn level or worse fails the test unless the test
# names it in allow_log (the warnings it provokes on purpose).
my @EXPECTED_WARNINGS = (
    # A broker that has just started (scripts/check, the first-run test and
    # the fault test start one) hands out producer ids only once its
    # controller has given it a block; librdkafka says so and retries.
    qr/AH30201: kafka producer GETPID: .*Failed to acquire idempotence PID from broker .*Coordinator load in progress: retrying/,
);

sub error_log_problems {
    my ($self) = @_;
    my @bad;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return ("no error log");
    LINE: while (my $l = <$fh>) {
        # Warnings and worse, crashes, and any line httpd did not write itself
        # (a library printing to stderr, which is the error log).
        next unless $l =~ /\[(?:[a-z_]+:)?(warn|error|crit|alert|emerg)\]|exit signal|segfault|Segmentation|AH00052|Sanitizer|runtime error:/
                    || $l =~ /^[^\[\n]/;
        for my $re (@EXPECTED_WARNINGS, @{ $self->{allow_log} }) { next LINE if $l =~ $re; }
        push @bad, $l;
    }
    return @bad;
}

sub finish {
    my ($self) = @_;
    for my $k (sort keys %{ $self->{pids} }) { $self->stop_process($k) }
    $self->stop_httpd;
    $self->kafka('stop') if $self->{own_kafka};
    my @bad = $self->error_log_problems;
    # The daemons' logs: a sanitizer report or a crash there fails too.
    for my $log (glob "$self->{dir}/logs/*.log") {
        next if $log =~ /error\.log$/;
        open my $fh, '<', $log or next;
        while (my $l = <$fh>) { push @bad, "$log: $l" if $l =~ /Sanitizer|runtime error:/ }
    }
    ok(!@bad, 'error log has no unexpected lines');
    diag("unexpected: $_") for @bad;
    # A failed test leaves its directory (logs, config, spool) for a look.
    if (Test::More->builder->is_passing && !$ENV{TILER_KEEP}) { remove_tree($self->{dir}) }
    else { diag("kept $self->{dir}") }
}

# A test that dies midway: stop everything it started, each daemon and httpd
# with their whole process groups.
sub DESTROY {
    my ($self) = @_;
    return if ($self->{owner} // 0) != $$;
    local ($?, $!, $@);
    for my $pid (values %{ $self->{pids} || {} }) { kill 'KILL', -$pid, $pid; waitpid($pid, 0); stop_group($pid, 0); }
    my $group = $self->{httpd_group} // $self->httpd_pid;
    stop_group($group, 5) if $group;
    $self->kafka('kill') if $self->{own_kafka};
}

# What a test needs and this machine lacks (root, network namespaces, a
# tool): run by hand, the test or block is skipped; under scripts/check
# (TILER_REQUIRE_ALL), which installs everything and runs as root, it fails.
sub missing {
    my ($why) = @_;
    fail("needed and missing: $why (scripts/check requires it)") if $ENV{TILER_REQUIRE_ALL};
}

sub need {
    my ($have, $why) = @_;
    return 1 if $have;
    BAIL_OUT("needed and missing: $why (scripts/check requires it)") if $ENV{TILER_REQUIRE_ALL};
    plan skip_all => $why;
}

# The TILER_TEST_* fault hooks are built only with ./configure
# --enable-test-hooks. A test that relies on them must not pass, or skip,
# without them: it stops the run, saying why.
sub require_test_hooks {
    my ($self) = @_;
    my $bin = $self->bin('tiler-worker/tiler-worker');
    my $v = `$bin --version 2>&1` // '';
    chomp $v;
    BAIL_OUT("$bin was built without test hooks ('$v'); run ./configure --enable-test-hooks (scripts/check does)")
        unless $v =~ /\(test hooks: on\)/;
}

1;
