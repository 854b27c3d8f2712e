"""install.deb: raydeploy installed like real software.

Builds the .deb with CPack from the existing build directory (the binary must be built, as for the
other tests), unpacks it into a scratch root (`dpkg-deb -x`), checks the control file, the
conffiles, the maintainer scripts and the systemd unit, then runs the unpacked binary from an
unrelated working directory: `--version`, `checkpoints` (the installed catalog), `serve` with a
temporary state directory answering /health, and a client command that finds that service through
its state directory. Finally `cmake --install --prefix` gives the same layout.

Run from the repository root, after scripts/build.sh:

    RAYDEPLOY_BUILD_DIR=build .venv/bin/python -m unittest -v tests/install/test_install_deb.py

Nothing is installed on this machine: every file goes under a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get('RAYDEPLOY_BUILD_DIR', SOURCE_DIR / 'build')).resolve()
# The CMake that configured the build directory (ctest passes it), else the one on PATH.
CMAKE = os.environ.get('RAYDEPLOY_CMAKE', 'cmake')
CPACK = os.environ.get('RAYDEPLOY_CPACK', 'cpack')

# What raydeploy links, by Debian package (the package must depend on each). Boost is linked
# statically (CMakeLists.txt), so no Boost runtime package is among them.
RUNTIME_PACKAGES = ['libyaml-cpp0.7', 'libsqlite3-0', 'libssl3', 'libprometheus-cpp-core1.0', 'libstdc++6',
                    'libgcc-s1', 'libc6']

# The sandbox of raydeploy.service, each option with its required value.
HARDENING = {
    'NoNewPrivileges': 'yes',
    'ProtectSystem': 'strict',
    'ProtectHome': 'yes',
    'PrivateTmp': 'yes',
    'PrivateDevices': 'yes',
    'ProtectKernelTunables': 'yes',
    'ProtectKernelModules': 'yes',
    'ProtectKernelLogs': 'yes',
    'ProtectControlGroups': 'yes',
    'RestrictAddressFamilies': 'AF_INET AF_INET6 AF_UNIX',
    'LockPersonality': 'yes',
    'MemoryDenyWriteExecute': 'yes',
    'SystemCallFilter': '@system-service',
    'UMask': '0077',
    'CapabilityBoundingSet': '',
    'User': 'raydeploy',
    'StateDirectory': 'raydeploy',
    'StateDirectoryMode': '0700',
}

COMMAND_TIMEOUT = 120


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without the developer's raydeploy settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('RAYDEPLOY_') and k not in ('CML_API_KEY', 'STATE_DIRECTORY', 'XDG_STATE_HOME')}
    env['RAYDEPLOY_RAY_ENABLED'] = 'false'  # no Ray cluster here to poll
    env.update(extra)
    return env


def run(args: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_environment(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_ok(args: list[str | Path], **kwargs) -> str:
    result = run(args, **kwargs)
    if result.returncode != 0:
        raise AssertionError('%s exited %d\nstdout:\n%s\nstderr:\n%s'
                             % (' '.join(map(str, args)), result.returncode, result.stdout, result.stderr))
    return result.stdout


def unit_settings(text: str) -> dict[str, str]:
    """The [Service] and [Unit] assignments of a unit file (the last one wins, as in systemd)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(('#', ';', '[')) or '=' not in line:
            continue
        key, value = line.split('=', 1)
        values[key.strip()] = value.strip()
    return values


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob('*') if p.is_file() or p.is_symlink()}


def project_version() -> str:
    for line in (BUILD_DIR / 'CMakeCache.txt').read_text().splitlines():
        if line.startswith('CMAKE_PROJECT_VERSION:'):
            return line.split('=', 1)[1]
    raise AssertionError('no CMAKE_PROJECT_VERSION in %s/CMakeCache.txt' % BUILD_DIR)


class InstallDeb(unittest.TestCase):
    work: Path
    deb: Path
    root: Path
    control: Path
    elsewhere: Path

    @classmethod
    def setUpClass(cls) -> None:
        if not (BUILD_DIR / 'bin' / 'raydeploy').exists():
            raise AssertionError('%s/bin/raydeploy is missing: build it first (scripts/build.sh --target raydeploy)'
                                 % BUILD_DIR)
        cls.work = Path(tempfile.mkdtemp(prefix='raydeploy-install-'))
        packages = cls.work / 'packages'
        run_ok([CPACK, '-G', 'DEB', '--config', BUILD_DIR / 'CPackConfig.cmake', '-B', packages],
               cwd=BUILD_DIR, timeout=480)
        debs = sorted(packages.glob('*.deb'))
        if len(debs) != 1:
            raise AssertionError('expected one .deb in %s, found %s' % (packages, debs))
        cls.deb = debs[0]
        cls.root = cls.work / 'root'
        cls.control = cls.work / 'control'
        run_ok(['dpkg-deb', '-x', cls.deb, cls.root])
        run_ok(['dpkg-deb', '-e', cls.deb, cls.control])
        # Where the installed binary is run from: nothing of raydeploy's here or above.
        cls.elsewhere = cls.work / 'elsewhere'
        cls.elsewhere.mkdir()

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.work, ignore_errors=True)

    def binary(self) -> Path:
        return self.root / 'usr/bin/raydeploy'

    # ---------------------------------------------------------------------------- the package

    def test_control_file_names_the_package_and_its_runtime_libraries(self) -> None:
        fields = {name: run_ok(['dpkg-deb', '-f', self.deb, name]).strip()
                  for name in ('Package', 'Version', 'Architecture', 'Depends', 'Recommends', 'Maintainer',
                               'Section', 'Description')}
        self.assertEqual(fields['Package'], 'raydeploy')
        self.assertEqual(fields['Version'], project_version())
        self.assertEqual(fields['Architecture'], run_ok(['dpkg', '--print-architecture']).strip())
        self.assertEqual(self.deb.name, 'raydeploy_%s_%s.deb' % (fields['Version'], fields['Architecture']))
        depends = {re.sub(r'\s*\(.*\)', '', d).strip() for d in fields['Depends'].split(',')}
        for package in RUNTIME_PACKAGES:
            self.assertIn(package, depends)
        # The playbooks' Ansible comes from a virtualenv (operations.md), never from a dependency.
        self.assertNotRegex(fields['Depends'] + fields['Recommends'], r'ansible')
        self.assertIn('ansible-core', fields['Description'])
        self.assertRegex(fields['Maintainer'], r'.+ <.+@.+>')

    def test_every_library_the_binary_links_is_a_dependency(self) -> None:
        depends = run_ok(['dpkg-deb', '-f', self.deb, 'Depends'])
        needed = re.findall(r'NEEDED\s+(\S+)', run_ok(['objdump', '-p', self.binary()]))
        self.assertIn('libyaml-cpp.so.0.7', needed)
        self.assertFalse([library for library in needed if library.startswith('libboost')],
                         'Boost is linked statically; the package does not depend on its shared libraries')
        # The file the loader picks, not any file of that name: a machine with multilib packages
        # (clang's pull in libc6-i386) has a /lib32/libm.so.6 too.
        loaded = dict(re.findall(r'^\s*(\S+) => (/\S+)', run_ok(['ldd', self.binary()]), re.M))
        for library in needed:
            self.assertIn(library, loaded, 'the loader does not find %s' % library)
            path = loaded[library]
            # With merged /usr, dpkg knows a file under the name its package installed it as.
            candidates = [path, '/usr' + path, path.removeprefix('/usr')]
            owners = [run(['dpkg', '-S', candidate]) for candidate in candidates]
            found = [owner for owner in owners if owner.returncode == 0]
            self.assertTrue(found, 'no Debian package on this machine has %s (%s)' % (library, path))
            package = found[0].stdout.split(':', 1)[0].strip()
            self.assertRegex(depends, r'(^|, )%s( |,|$)' % re.escape(package),
                             '%s comes from %s, which the package does not depend on' % (library, package))

    def test_the_libc6_dependency_covers_every_glibc_version_the_binary_needs(self) -> None:
        depends = run_ok(['dpkg-deb', '-f', self.deb, 'Depends'])
        declared = re.search(r'(?:^|, )libc6 \(>= ([0-9.]+)\)', depends)
        self.assertIsNotNone(declared, 'Depends names no minimum libc6: %s' % depends)
        references = run_ok(['objdump', '-p', self.binary()])
        needed = [tuple(map(int, v.split('.'))) for v in re.findall(r'\bGLIBC_([0-9]+(?:\.[0-9]+)+)\b', references)]
        # Packed relative relocations (-z pack-relative-relocs) need a loader that reads them: 2.36.
        if 'GLIBC_ABI_DT_RELR' in references:
            needed.append((2, 36))
        self.assertTrue(needed, 'objdump -p shows no GLIBC_ version reference')
        self.assertGreaterEqual(tuple(map(int, declared.group(1).split('.'))), max(needed),
                                'the binary needs glibc %s; the package asks for libc6 >= %s'
                                % ('.'.join(map(str, max(needed))), declared.group(1)))

    def test_layout_follows_the_filesystem_hierarchy(self) -> None:
        binary = self.binary()
        self.assertEqual(stat.S_IMODE(binary.stat().st_mode), 0o755)
        for path in ['usr/share/raydeploy/playbooks/checkpoints.yaml',
                     'usr/share/raydeploy/playbooks/ansible.cfg',
                     'usr/share/raydeploy/playbooks/inventory/local.yml',
                     'usr/share/raydeploy/playbooks/inventory/example.yml',
                     'usr/share/raydeploy/playbooks/callback_plugins/raydeploy_events.py',
                     'usr/share/raydeploy/playbooks/library/raydeploy_tcp_probe.py',
                     'usr/share/raydeploy/cml/checkpoints.yaml',
                     'usr/share/raydeploy/cml/jobs_config.yaml',
                     'usr/share/doc/raydeploy/README.md',
                     'usr/share/doc/raydeploy/operations.md',
                     'usr/share/doc/raydeploy/configuration.md',
                     'usr/share/doc/raydeploy/openapi.yaml',
                     'usr/lib/sysusers.d/raydeploy.conf',
                     'etc/raydeploy/raydeploy.yaml',
                     'lib/systemd/system/raydeploy.service']:
            self.assertTrue((self.root / path).is_file(), path)
        self.assertFalse((self.root / 'usr/local').exists())
        self.assertFalse((self.root / 'usr/etc').exists())

        # The playbooks and the CML files exactly as the repository has them: every tracked file,
        # and none that git ignores (reports, caches).
        tracked = run_ok(['git', 'ls-files', 'playbooks', 'cml'], cwd=SOURCE_DIR).split()
        for relative in tracked:
            installed = self.root / 'usr/share/raydeploy' / relative
            self.assertTrue(installed.is_file(), relative)
            self.assertEqual(installed.read_bytes(), (SOURCE_DIR / relative).read_bytes(), relative)
        shipped = sorted(files_under(self.root / 'usr/share/raydeploy'))
        ignored = run(['git', 'check-ignore', '--no-index', *shipped], cwd=SOURCE_DIR).stdout.split()
        self.assertEqual(ignored, [])

        # Owned by root, nothing writable by others.
        listing = run_ok(['dpkg-deb', '-c', self.deb]).splitlines()
        self.assertTrue(listing)
        for line in listing:
            mode, owner = line.split()[:2]
            self.assertEqual(owner, 'root/root', line)
            self.assertNotEqual(mode[8], 'w', line)

    def test_config_is_a_conffile_and_the_scripts_create_the_user(self) -> None:
        self.assertEqual((self.control / 'conffiles').read_text().split(), ['/etc/raydeploy/raydeploy.yaml'])
        for script in ('postinst', 'prerm', 'postrm'):
            path = self.control / script
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o755, script)
            self.assertTrue(path.read_text().startswith('#!/bin/sh\n'), script)
            run_ok(['sh', '-n', path])
        postinst = (self.control / 'postinst').read_text()
        self.assertIn('systemd-sysusers raydeploy.conf', postinst)
        self.assertIn('adduser --system --group --home /var/lib/raydeploy', postinst)
        self.assertIn('rm -rf /var/lib/raydeploy', (self.control / 'postrm').read_text())
        sysusers = [line.split() for line in (self.root / 'usr/lib/sysusers.d/raydeploy.conf').read_text().splitlines()
                    if line and not line.startswith('#')]
        self.assertEqual(len(sysusers), 1)
        self.assertEqual(sysusers[0][:3], ['u', 'raydeploy', '-'])
        self.assertEqual(sysusers[0][-1], '/var/lib/raydeploy')

    def test_systemd_unit_runs_the_service_sandboxed_as_its_own_user(self) -> None:
        unit_file = self.root / 'lib/systemd/system/raydeploy.service'
        unit = unit_settings(unit_file.read_text())
        self.assertEqual(unit['ExecStart'], '/usr/bin/raydeploy serve --config /etc/raydeploy/raydeploy.yaml')
        self.assertEqual(unit['Environment'], 'HOME=%S/raydeploy')
        self.assertEqual(unit['WantedBy'], 'multi-user.target')
        for key, value in HARDENING.items():
            self.assertIn(key, unit)
            self.assertEqual(unit[key], value, key)

        # systemd's own checks, with this machine's targets. verify wants the ExecStart binary where
        # the unit says: a copy of the unit names the unpacked one.
        copy = self.work / 'verify' / 'raydeploy.service'
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(unit_file.read_text().replace('ExecStart=/usr/bin/raydeploy ',
                                                      'ExecStart=%s ' % self.binary()))
        verified = run(['systemd-analyze', 'verify', copy], cwd=self.work)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # Unknown keys and unparsable values are only warnings, on stderr.
        self.assertNotIn('raydeploy.service', verified.stdout + verified.stderr)
        security = run(['systemd-analyze', 'security', '--offline=yes', copy], cwd=self.work)
        self.assertEqual(security.returncode, 0, security.stdout + security.stderr)
        exposure = re.search(r'Overall exposure level for raydeploy\.service: ([0-9.]+)', security.stdout)
        self.assertIsNotNone(exposure, security.stdout)
        self.assertLessEqual(float(exposure.group(1)), 2.5, security.stdout)

    # ------------------------------------------------------------------- the installed binary

    def test_installed_binary_finds_its_data_from_any_directory(self) -> None:
        version = run_ok([self.binary(), '--version'], cwd=self.elsewhere)
        self.assertEqual(version.split()[:2], ['raydeploy', project_version()])

        catalog = self.root / 'usr/share/raydeploy/playbooks/checkpoints.yaml'
        listed = run_ok([self.binary(), 'checkpoints'], cwd=self.elsewhere)
        self.assertIn('6 checkpoints from %s' % catalog, listed)
        self.assertIn('cleanup-existing', listed)

        # The state directory: systemd's, else root's, else the user's.
        state = self.work / 'systemd-state'
        checked = run_ok([self.binary(), 'serve', '--check-config'], cwd=self.elsewhere,
                         env=clean_environment(STATE_DIRECTORY=str(state)))
        self.assertIn('defaults from the installation %s' % (self.root / 'usr/share/raydeploy'), checked)
        self.assertIn('state_dir = %s  (default)' % state, checked)
        self.assertIn('catalog = %s  (default)' % catalog, checked)
        self.assertIn('inventory = %s  (default)' % (self.root / 'usr/share/raydeploy/playbooks/inventory/local.yml'),
                      checked)
        self.assertFalse(state.exists())  # --check-config creates nothing
        home = self.work / 'home'
        checked = run_ok([self.binary(), 'serve', '--check-config'], cwd=self.elsewhere,
                         env=clean_environment(HOME=str(home)))
        expected = Path('/var/lib/raydeploy') if os.geteuid() == 0 else home / '.local/state/raydeploy'
        self.assertIn('state_dir = %s  (default)' % expected, checked)

    def test_shipped_configuration_is_valid_and_asks_for_an_inventory(self) -> None:
        config = self.root / 'etc/raydeploy/raydeploy.yaml'
        missing = run([self.binary(), 'serve', '--config', config, '--check-config'], cwd=self.elsewhere)
        self.assertEqual(missing.returncode, 2, missing.stdout + missing.stderr)
        self.assertIn("inventory: file '/etc/raydeploy/inventory.yml'", missing.stderr)
        example = self.root / 'usr/share/raydeploy/playbooks/inventory/example.yml'
        checked = run_ok([self.binary(), 'serve', '--config', config, '--inventory', example, '--check-config'],
                         cwd=self.elsewhere, env=clean_environment(STATE_DIRECTORY=str(self.work / 'unused')))
        self.assertIn('configuration OK', checked)

    def test_installed_service_starts_answers_and_is_found_by_the_cli(self) -> None:
        state = self.work / 'service-state'
        service = subprocess.Popen([str(self.binary()), 'serve', '--state-dir', str(state), '--listen', '127.0.0.1:0'],
                                   cwd=self.elsewhere, env=clean_environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            # `listening on URL` is its first stdout line; the pipe's end (it died) also ends readline.
            line = ''
            timer = _Deadline(service, 30)
            with timer:
                line = service.stdout.readline()
            self.assertRegex(line, r'^listening on http://127\.0\.0\.1:\d+$',
                             'no listening line (stderr: %s)' % (service.stderr.read() if service.poll() is not None
                                                                 else 'still running'))
            url = line.split()[-1]
            with urllib.request.urlopen(url + '/health', timeout=10) as answer:
                self.assertEqual(answer.status, 200)
                json.loads(answer.read())

            endpoint = json.loads((state / 'raydeploy.endpoint').read_text())
            self.assertEqual(endpoint, {'pid': service.pid, 'url': url})
            found = run([self.binary(), 'executions', '--format', 'json', '--state-dir', state], cwd=self.elsewhere)
            self.assertEqual(found.returncode, 0, found.stdout + found.stderr)
            self.assertIn('talking to the service on %s at %s' % (state, url), found.stderr)
            self.assertEqual(json.loads(found.stdout)['executions'], [])
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                code = service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait(timeout=30)
                raise
        self.assertEqual(code, 0)
        self.assertFalse((state / 'raydeploy.endpoint').exists())

    # ------------------------------------------------------------------------- cmake --install

    def test_cmake_install_gives_the_same_layout(self) -> None:
        prefix = self.work / 'prefix'
        run_ok([CMAKE, '--install', BUILD_DIR, '--prefix', prefix], timeout=300)
        # The package's /usr is the prefix; /etc and /lib/systemd go under the prefix too.
        from_package = {re.sub(r'^usr/', '', path) for path in files_under(self.root)}
        self.assertEqual(files_under(prefix), from_package)

        unit = unit_settings((prefix / 'lib/systemd/system/raydeploy.service').read_text())
        self.assertEqual(unit['ExecStart'], '%s/bin/raydeploy serve --config %s/etc/raydeploy/raydeploy.yaml'
                         % (prefix, prefix))
        self.assertEqual((prefix / 'etc/raydeploy/raydeploy.yaml').read_bytes(),
                         (self.root / 'etc/raydeploy/raydeploy.yaml').read_bytes())
        listed = run_ok([prefix / 'bin/raydeploy', 'checkpoints'], cwd=self.elsewhere)
        self.assertIn('6 checkpoints from %s' % (prefix / 'share/raydeploy/playbooks/checkpoints.yaml'), listed)

        # Installing again keeps an edited configuration.
        edited = '# edited by the operator\ninventory: /srv/inventory.yml\n'
        (prefix / 'etc/raydeploy/raydeploy.yaml').write_text(edited)
        again = run_ok([CMAKE, '--install', BUILD_DIR, '--prefix', prefix], timeout=300)
        self.assertIn('Keeping the edited %s/etc/raydeploy/raydeploy.yaml' % prefix, again)
        self.assertEqual((prefix / 'etc/raydeploy/raydeploy.yaml').read_text(), edited)


class _Deadline:
    """Kills `process` if the `with` block takes longer than `seconds` (a blocked readline)."""

    def __init__(self, process: subprocess.Popen, seconds: float) -> None:
        self.process = process
        self.seconds = seconds

    def __enter__(self) -> None:
        signal.signal(signal.SIGALRM, lambda *_: self.process.kill())
        signal.alarm(int(self.seconds))

    def __exit__(self, *_: object) -> None:
        signal.alarm(0)


if __name__ == '__main__':
    unittest.main()
