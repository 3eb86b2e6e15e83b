// Completes package-lock.json with the other platforms' optional binaries that the
// registry reachable here does not serve (e.g. @chdb/lib-darwin-arm64, @biomejs/cli-win32-x64).
// npm leaves them out of the lock when it cannot fetch their manifests, and `npm ci` then
// calls the lock out of sync with package.json. Each missing entry is written the way npm
// writes it, with the version its parent pins and the os/cpu/libc its name states, so that
// `npm ci` skips it on other platforms exactly as it skips the ones it knows. No integrity is
// recorded (nothing was downloaded); a machine that does install one fetches it by version.
//
// Run after any `npm install` that changes dependencies: `npm run lock:platforms`.
import { readFileSync, writeFileSync } from 'node:fs'

interface LockEntry {
  version?: string
  dev?: boolean
  optional?: boolean
  optionalDependencies?: Record<string, string>
  os?: string[]
  cpu?: string[]
  libc?: string[]
}

const LOCK = 'package-lock.json'
const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'sunos', 'win32', 'aix']
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 'riscv64', 's390x', 'loong64']

/** os, cpu and libc from a platform package's name, or undefined when it names none. */
function platformOf(name: string): Pick<LockEntry, 'os' | 'cpu' | 'libc'> | undefined {
  const parts = (name.split('/').pop() ?? '').split('-')
  const os = parts.find((p) => OS.includes(p))
  const cpu = parts.find((p) => CPU.includes(p))
  if (!os || !cpu) return undefined
  const libc = parts.includes('musl') ? ['musl'] : os === 'linux' ? ['glibc'] : undefined
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) }
}

const lock = JSON.parse(readFileSync(LOCK, 'utf8')) as { packages: Record<string, LockEntry> }
const packages = lock.packages
let added = 0
for (const [parentPath, parent] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(parent.optionalDependencies ?? {})) {
    const path = `node_modules/${name}`
    if (packages[path] || packages[`${parentPath}/${path}`]) continue
    const platform = platformOf(name)
    if (!platform) {
      console.log(
        `lock: ${name} (optional, of ${parentPath || 'the root'}) is missing and names no platform; left out`,
      )
      continue
    }
    // Keys in npm's own order, so that a later `npm install` leaves the entry as it is.
    packages[path] = {
      version,
      cpu: platform.cpu,
      ...(parent.dev ? { dev: true } : {}),
      ...(platform.libc ? { libc: platform.libc } : {}),
      optional: true,
      os: platform.os,
    }
    added += 1
    console.log(
      `lock: added ${name}@${version} (${[platform.os, platform.cpu, platform.libc].flat().filter(Boolean).join('/')})`,
    )
  }
}
if (added === 0) {
  console.log('lock: nothing missing; package-lock.json unchanged')
} else {
  const sorted = Object.keys(packages).sort((a, b) =>
    a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  )
  lock.packages = Object.fromEntries(sorted.map((k) => [k, packages[k] as LockEntry]))
  writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`)
  console.log(`lock: ${added} platform entries added; check with \`npm ci --dry-run\``)
}
