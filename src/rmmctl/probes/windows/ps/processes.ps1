# rmmctl-probe: processes@1
# The process perf class (not localized): PercentProcessorTime is % of ONE CPU (it reaches 100 x CPUs),
# WorkingSetPrivate in bytes; names only (the instance name, `#N` for a repeat), never command lines
# (a first query primes the provider's cooked counters, as in cpu.ps1; the second is the sample)
$null = Try-Get { Get-CimInstance Win32_PerfFormattedData_PerfProc_Process -OperationTimeoutSec 4 }
Start-Sleep -Milliseconds 500
$all = @(Get-CimInstance Win32_PerfFormattedData_PerfProc_Process -OperationTimeoutSec 6 |
  Where-Object { $_.Name -ne '_Total' -and $_.Name -ne 'Idle' })
$os = Try-Get { Get-CimInstance Win32_OperatingSystem -OperationTimeoutSec 8 }
function Row($p) {
  [pscustomobject]@{ pid = [int]$p.IDProcess; name = $p.Name; cpu = [double]$p.PercentProcessorTime; ws_private = [long]$p.WorkingSetPrivate }
}
[pscustomobject]@{
  count = $all.Count
  mem_total_kb = $(if ($os) { [long]$os.TotalVisibleMemorySize } else { $null })
  top_cpu = @($all | Sort-Object -Property PercentProcessorTime -Descending | Select-Object -First 10 | ForEach-Object { Row $_ })
  top_mem = @($all | Sort-Object -Property WorkingSetPrivate -Descending | Select-Object -First 10 | ForEach-Object { Row $_ })
}
