# rmmctl-probe: filesystems@1
# Fixed disks (Win32_LogicalDisk DriveType=3, sizes in bytes); read-only from Win32_Volume.Access (1 = read)
$access = @{}
$vols = Try-Get { @(Get-CimInstance Win32_Volume -Filter 'DriveType=3' -OperationTimeoutSec 8) }
foreach ($v in @($vols)) {
  if ($v -and $v.DriveLetter) { $access["$($v.DriveLetter)"] = $v.Access }
}
$disks = @(Get-CimInstance Win32_LogicalDisk -Filter 'DriveType=3' -OperationTimeoutSec 8 | ForEach-Object {
  [pscustomobject]@{
    drive = $_.DeviceID
    label = $_.VolumeName
    fs = $_.FileSystem
    size = $(if ($null -ne $_.Size) { [long]$_.Size } else { $null })
    free = $(if ($null -ne $_.FreeSpace) { [long]$_.FreeSpace } else { $null })
    access = $access["$($_.DeviceID)"]
  }
})
[pscustomobject]@{ disks = $disks }
