# rmmctl-probe: memory@1
# RAM from Win32_OperatingSystem (KB; FreePhysicalMemory is what Windows calls available), the page
# files from Win32_PageFileUsage (MB; none, one or several)
$os = Get-CimInstance Win32_OperatingSystem -OperationTimeoutSec 8
$pf = Try-Get {
  @(Get-CimInstance Win32_PageFileUsage -OperationTimeoutSec 8 | ForEach-Object {
    [pscustomobject]@{ name = $_.Name; allocated_mb = [long]$_.AllocatedBaseSize; current_mb = [long]$_.CurrentUsage }
  })
}
[pscustomobject]@{
  total_kb = [long]$os.TotalVisibleMemorySize
  free_kb = [long]$os.FreePhysicalMemory
  pagefiles = $pf
}
