"""The scripts ``--jobs N -o DIR`` writes: run the pre step, pg_restore -j, and the post step.

Both do the same, for whoever restores without dumpfix on the machine: a POSIX
shell script (validations in parallel with ``xargs -P``) and a PowerShell one
for Windows (validations one after the other). Like dumpfix itself they put
the FKs back whatever pg_restore does, and exit non-zero when anything failed.
PSQL and PG_RESTORE in the environment name other programs than PATH's.
"""

from __future__ import annotations

import shlex


def shell(archive: str, jobs: int) -> str:
    return f"""#!/bin/sh
# Written by dumpfix: loads {archive}
# in parallel ({jobs} jobs) into the database URL names, as the tables' owner.
#   sh restore.sh URL            pre step, pg_restore -j {jobs}, post step
#   sh restore.sh --finish URL   only the post step: puts back the FKs an interrupted run left off
# Not atomic: a failed load leaves part of the data (with every FK back in place).
set -u
here=$(cd "$(dirname "$0")" && pwd)
finish=0
if [ "${{1:-}}" = --finish ]; then finish=1; shift; fi
url=${{1:?usage: sh restore.sh [--finish] URL}}
PSQL=${{PSQL:-psql}}
PG_RESTORE=${{PG_RESTORE:-pg_restore}}
run() {{ "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$url" "$@"; }}
status=0
if [ $finish = 0 ]; then
    run -1 -f "$here/pre.sql" || exit 2
    if "$PG_RESTORE" -j {jobs} --data-only --exit-on-error -L "$here/restore.list" -d "$url" {shlex.quote(archive)}; then
        run -f "$here/loaded.sql" || status=2
    else
        echo "restore.sh: pg_restore failed: putting the FKs back; the tables hold part of the data" >&2
        status=2
    fi
fi
run -1 -f "$here/post.sql" || exit 2
if [ -n "$(ls "$here/validate")" ]; then
    ls "$here/validate" | sed "s|^|$here/validate/|" |
        xargs -P {jobs} -I{{}} "$PSQL" -X -q -v ON_ERROR_STOP=1 -1 -d "$url" -f {{}} || status=2
fi
run -f "$here/finish.sql" || status=2
exit $status
"""


def powershell(archive: str, jobs: int) -> str:
    quoted = "'" + archive.replace("'", "''") + "'"
    return f"""# Written by dumpfix: loads {archive}
# in parallel ({jobs} jobs) into the database -Dsn names, as the tables' owner.
#   .\\restore.ps1 -Dsn URL            pre step, pg_restore -j {jobs}, post step
#   .\\restore.ps1 -Dsn URL -Finish    only the post step: puts back the FKs an interrupted run left off
# Not atomic: a failed load leaves part of the data (with every FK back in place).
param([Parameter(Mandatory = $true)][string]$Dsn, [switch]$Finish)
$psql = if ($env:PSQL) {{ $env:PSQL }} else {{ 'psql' }}
$pgRestore = if ($env:PG_RESTORE) {{ $env:PG_RESTORE }} else {{ 'pg_restore' }}
$here = $PSScriptRoot
$status = 0
function Invoke-Psql([string[]]$More) {{
    & $psql -X -q -v ON_ERROR_STOP=1 -d $Dsn @More | Out-Host
    return $LASTEXITCODE
}}
if (-not $Finish) {{
    if ((Invoke-Psql @('-1', '-f', (Join-Path $here 'pre.sql'))) -ne 0) {{ exit 2 }}
    & $pgRestore -j {jobs} --data-only --exit-on-error -L (Join-Path $here 'restore.list') -d $Dsn {quoted}
    if ($LASTEXITCODE -eq 0) {{
        if ((Invoke-Psql @('-f', (Join-Path $here 'loaded.sql'))) -ne 0) {{ $status = 2 }}
    }} else {{
        Write-Error 'restore.ps1: pg_restore failed: putting the FKs back; the tables hold part of the data' -ErrorAction Continue
        $status = 2
    }}
}}
if ((Invoke-Psql @('-1', '-f', (Join-Path $here 'post.sql'))) -ne 0) {{ exit 2 }}
foreach ($file in Get-ChildItem -Path (Join-Path $here 'validate') -Filter '*.sql' | Sort-Object Name) {{
    if ((Invoke-Psql @('-1', '-f', $file.FullName)) -ne 0) {{ $status = 2 }}
}}
if ((Invoke-Psql @('-f', (Join-Path $here 'finish.sql'))) -ne 0) {{ $status = 2 }}
exit $status
"""
