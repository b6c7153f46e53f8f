# rmmctl-probe: printers@1
function Cap($m, $n) { $s = "$m"; if ($s.Length -gt $n) { $s.Substring(0, $n) } else { $s } }
$since = (Get-Date).AddDays(-7)
$svc = Try-Get { Get-Service -Name Spooler }
$spooler = $null
$dn = 'Print Spooler'
if ($svc) {
  $dn = $svc.DisplayName
  $st = Try-Get { "$($svc.StartType)" }
  if (-not $st) { $st = Try-Get { "$((Get-CimInstance Win32_Service -Filter "Name='Spooler'" -OperationTimeoutSec 5).StartMode)" } }
  $started = Try-Get { Iso (Get-Process -Name spoolsv -ErrorAction Stop | Select-Object -First 1).StartTime }
  $spooler = [pscustomobject]@{ status = "$($svc.Status)"; start_type = $st; display_name = $dn; started = $started }
}
$crashes = @(Try-Get {
  Get-WinEvent -FilterHashtable @{ LogName = 'System'; ProviderName = 'Service Control Manager'; Id = 7031, 7034; StartTime = $since } -MaxEvents 50 -ErrorAction SilentlyContinue |
    Where-Object { ("$($_.Message) " + (@($_.Properties | ForEach-Object { "$($_.Value)" }) -join ' ')) -match ('Spooler|' + [regex]::Escape($dn)) } |
    ForEach-Object { [pscustomobject]@{ time = Iso $_.TimeCreated; id = [int]$_.Id; source = $_.ProviderName; message = Cap $_.Message 400 } }
})
$crashes += @(Try-Get {
  Get-WinEvent -FilterHashtable @{ LogName = 'Application'; ProviderName = 'Application Error'; Id = 1000; StartTime = $since } -MaxEvents 50 -ErrorAction SilentlyContinue |
    Where-Object { "$($_.Message)" -match 'spoolsv\.exe' } |
    ForEach-Object { [pscustomobject]@{ time = Iso $_.TimeCreated; id = [int]$_.Id; source = $_.ProviderName; message = Cap $_.Message 400 } }
})
$printers = $null
$printersError = $null
$drivers = $null
$jobs = @()
if (Get-Command Get-Printer -ErrorAction SilentlyContinue) {
  $ports = @{}
  Try-Get { Get-PrinterPort | ForEach-Object { $ports["$($_.Name)"] = $_.PrinterHostAddress } } | Out-Null
  try {
    $printers = @(Get-Printer | ForEach-Object {
      $pn = "$($_.PortName)"
      [pscustomobject]@{
        name = $_.Name; driver = $_.DriverName; port = $pn; port_host = $ports[$pn]; shared = [bool]$_.Shared
        type = "$($_.Type)"; status = "$($_.PrinterStatus)"; jobs = [int]$_.JobCount
        location = $_.Location; comment = $_.Comment
      }
    })
  } catch { $printersError = "$($_.Exception.Message)" }
  $drivers = Try-Get {
    @(Get-PrinterDriver | ForEach-Object {
      $d = $_
      $ver = Try-Get { $v = [int64]$d.DriverVersion; '{0}.{1}.{2}.{3}' -f ($v -shr 48), (($v -shr 32) -band 65535), (($v -shr 16) -band 65535), ($v -band 65535) }
      $key = 'HKLM:\SYSTEM\CurrentControlSet\Control\Print\Environments\' + $d.PrinterEnvironment + '\Drivers\Version-' + $d.MajorVersion + '\' + $d.Name
      $iso = Try-Get { (Get-ItemProperty -LiteralPath $key -Name DriverIsolation -ErrorAction Stop).DriverIsolation }
      $files = @(@($d.DriverPath, $d.ConfigFile) + @($d.DependentFiles) | Where-Object { "$_" -match '\.dll$' } | ForEach-Object { Split-Path -Leaf "$_" } | Select-Object -Unique -First 40)
      [pscustomobject]@{
        name = $d.Name; manufacturer = $d.Manufacturer; major_version = [int]$d.MajorVersion
        environment = $d.PrinterEnvironment; inf_path = $d.InfPath; version = $ver; isolation = $iso; files = $files
      }
    })
  }
  if ($printers) {
    $jobs = @(foreach ($p in $printers) {
      if ($p.jobs -gt 0) {
        Try-Get {
          Get-PrintJob -PrinterName $p.name | ForEach-Object {
            [pscustomobject]@{
              id = [int]$_.Id; printer = $_.PrinterName; document = $_.DocumentName; user = $_.UserName
              status = "$($_.JobStatus)"; submitted = Iso $_.SubmittedTime; size = [long]$_.Size; pages = [int]$_.TotalPages
            }
          }
        }
      }
    })
  }
} else { $printersError = 'Get-Printer is not available (no PrintManagement module)' }
$events = @(Try-Get {
  Get-WinEvent -FilterHashtable @{ LogName = 'Microsoft-Windows-PrintService/Admin'; Id = 808, 215, 372, 99; StartTime = $since } -MaxEvents 100 -ErrorAction SilentlyContinue |
    ForEach-Object {
      [pscustomobject]@{
        time = Iso $_.TimeCreated; id = [int]$_.Id; level = [int]$_.Level; message = Cap $_.Message 400
        params = @($_.Properties | Select-Object -First 4 | ForEach-Object { Cap $_.Value 200 })
      }
    }
})
$spool = Try-Get {
  $f = @(Get-ChildItem -LiteralPath "$env:SystemRoot\System32\spool\PRINTERS" -File -Force -ErrorAction Stop)
  $oldest = $null
  if ($f.Count -gt 0) { $oldest = Iso (($f | Sort-Object LastWriteTime | Select-Object -First 1).LastWriteTime) }
  [pscustomobject]@{ files = $f.Count; bytes = [long](($f | Measure-Object -Property Length -Sum).Sum); oldest = $oldest }
}
[pscustomobject]@{
  now = Iso (Get-Date)
  spooler = $spooler
  crashes = $crashes
  printers = $printers
  printers_error = $printersError
  drivers = $drivers
  jobs = $jobs
  events = $events
  spool = $spool
}
