# rmmctl-probe: os@1
$os = Get-CimInstance Win32_OperatingSystem -OperationTimeoutSec 8
$cv = Try-Get { Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' }
[pscustomobject]@{
  caption = $os.Caption
  version = $os.Version
  build = $os.BuildNumber
  display_version = $(if ($cv) { $cv.DisplayVersion } else { $null })
  release_id = $(if ($cv) { $cv.ReleaseId } else { $null })
  product_type = [int]$os.ProductType
  architecture = $os.OSArchitecture
}
