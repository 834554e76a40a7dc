//! Builds Confer's front-end assets and embeds them in the binary.
//!
//! 1. Copies `web/package.json` and `web/package-lock.json` to
//!    `$OUT_DIR/web-build/` and runs `npm ci` there (never in the source tree),
//!    unless an earlier run already installed exactly that lock file.
//! 2. Compiles `web/src/app.scss` (GOV.UK Frontend from its Sass source, with a
//!    system font stack) to `$OUT_DIR/assets/app.css` with dart-sass.
//! 3. Copies GOV.UK Frontend's ES module bundle to
//!    `$OUT_DIR/assets/govuk-frontend.min.js` and every file under `web/static/`
//!    to `$OUT_DIR/assets/`.
//! 4. Writes `$OUT_DIR/assets.rs`: `ASSETS` (name, content type, bytes) and
//!    `ASSET_VERSION` (a hash of all of them, for cache-busting URLs).
//!
//! Needs Node.js 20.19+ and npm on `PATH`, and access to the npm registry on
//! the first build. Any failure panics with a message: the build must never
//! silently produce an empty or partial asset set.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Oldest Node.js major version that the pinned `sass` supports.
const MIN_NODE_MAJOR: u32 = 20;

const INSTALL_HINT: &str = "Confer's build compiles its web assets with Node.js: install Node.js 20.19 or newer \
     and npm (for example `apt-get install nodejs npm`, or from https://nodejs.org/) and make sure \
     `node` and `npm` are on PATH";

fn main() {
    if let Err(message) = run() {
        panic!("\n\nerror building Confer's web assets: {message}\n\n");
    }
}

type Result<T> = std::result::Result<T, String>;

fn run() -> Result<()> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    let web = manifest_dir.join("..").join("web");

    // Re-run only when our own sources change (not on node_modules, which
    // lives in OUT_DIR anyway).
    println!("cargo:rerun-if-changed=build.rs");
    for input in ["package.json", "package-lock.json", "src", "static"] {
        println!("cargo:rerun-if-changed=../web/{input}");
    }

    check_node()?;

    let node_modules = npm_ci(&web, &out_dir.join("web-build"))?;

    // Start from an empty directory so files deleted from web/static vanish.
    let assets_dir = out_dir.join("assets");
    if assets_dir.exists() {
        fs::remove_dir_all(&assets_dir).map_err(|e| io_error("remove", &assets_dir, &e))?;
    }
    create_dir(&assets_dir)?;

    compile_sass(
        &node_modules,
        &web.join("src").join("app.scss"),
        &assets_dir.join("app.css"),
    )?;
    copy_govuk_frontend_js(&node_modules, &assets_dir.join("govuk-frontend.min.js"))?;
    copy_static(&web.join("static"), &assets_dir)?;

    write_assets_rs(&assets_dir, &out_dir.join("assets.rs"))
}

fn env_var(name: &str) -> Result<String> {
    env::var(name).map_err(|e| format!("environment variable {name}: {e} (is this run by cargo?)"))
}

fn io_error(action: &str, path: &Path, error: &io::Error) -> String {
    format!("cannot {action} {}: {error}", path.display())
}

fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| io_error("create directory", path, &e))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error("read", path, &e))
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    fs::write(path, contents).map_err(|e| io_error("write", path, &e))
}

fn npm_program() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

/// Runs a command, capturing its output (a build script's stdout is parsed by
/// cargo, so children must not write to it), and fails with that output.
fn run_command(command: &mut Command, what: &str) -> Result<Vec<u8>> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            format!("`{program}` was not found: {INSTALL_HINT}")
        } else {
            format!("cannot run `{program}` ({what}): {e}")
        }
    })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(format!(
            "{what} failed ({}): {command:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim_end(),
            String::from_utf8_lossy(&output.stderr).trim_end(),
        ))
    }
}

fn check_node() -> Result<()> {
    let stdout = run_command(Command::new("node").arg("--version"), "`node --version`")?;
    let version = String::from_utf8_lossy(&stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .ok_or_else(|| format!("cannot parse the Node.js version {version:?}"))?;
    if major < MIN_NODE_MAJOR {
        return Err(format!("Node.js {version} is too old. {INSTALL_HINT}"));
    }
    Ok(())
}

/// Installs the locked npm packages into `build_dir` and returns its
/// `node_modules`. Skipped when an earlier `npm ci` there succeeded with
/// identical package.json and package-lock.json.
fn npm_ci(web: &Path, build_dir: &Path) -> Result<PathBuf> {
    create_dir(build_dir)?;
    let package_json = read(&web.join("package.json"))?;
    let lock = read(&web.join("package-lock.json"))?;
    let node_modules = build_dir.join("node_modules");

    let mut hasher = Fnv1a::new();
    hasher.update(&package_json);
    hasher.update(b"\0");
    hasher.update(&lock);
    let wanted = hasher.hex();
    let stamp = build_dir.join("npm-ci.stamp");
    let installed = fs::read_to_string(&stamp).unwrap_or_default();
    if node_modules.is_dir() && installed.trim() == wanted {
        return Ok(node_modules);
    }

    // Remove the stamp first, so an interrupted install is redone next time.
    if stamp.exists() {
        fs::remove_file(&stamp).map_err(|e| io_error("remove", &stamp, &e))?;
    }
    write(&build_dir.join("package.json"), &package_json)?;
    write(&build_dir.join("package-lock.json"), &lock)?;
    run_command(
        Command::new(npm_program())
            .current_dir(build_dir)
            // --omit=optional: sass's only optional dependency is a native
            // file watcher for `sass --watch`, which we do not use.
            // --ignore-scripts: nothing we use needs install scripts.
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--omit=optional",
                "--ignore-scripts",
            ])
            .env("NPM_CONFIG_UPDATE_NOTIFIER", "false"),
        "`npm ci` (installing govuk-frontend and sass; needs the npm registry)",
    )?;
    if !node_modules.join("govuk-frontend").is_dir() || !node_modules.join("sass").is_dir() {
        return Err(format!(
            "`npm ci` succeeded but {} lacks govuk-frontend or sass",
            node_modules.display()
        ));
    }
    write(&stamp, wanted.as_bytes())?;
    Ok(node_modules)
}

fn compile_sass(node_modules: &Path, input: &Path, output: &Path) -> Result<()> {
    let mut load_path = std::ffi::OsString::from("--load-path=");
    load_path.push(node_modules);
    run_command(
        Command::new("node")
            .arg(node_modules.join("sass").join("sass.js"))
            .arg(load_path)
            .args([
                "--style=compressed",
                "--no-source-map",
                "--no-error-css",
                "--quiet-deps",
            ])
            .arg(input)
            .arg(output),
        "compiling web/src/app.scss with sass",
    )?;
    let css = read(output)?;
    if css.is_empty() {
        return Err(format!("sass wrote an empty {}", output.display()));
    }
    // Confer must not ship or reference GOV.UK's fonts (licensed for gov.uk only).
    if contains(&css, b"woff") || contains(&css, b"GDS Transport") {
        return Err(format!(
            "{} references GOV.UK's font files or GDS Transport; keep $govuk-font-family and \
             $govuk-include-default-font-face: false in web/src/app.scss",
            output.display()
        ));
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Copies GOV.UK Frontend's ES module bundle, without its source map comment
/// (we do not ship the map).
fn copy_govuk_frontend_js(node_modules: &Path, output: &Path) -> Result<()> {
    let source = node_modules.join("govuk-frontend/dist/govuk/govuk-frontend.min.js");
    let js = read(&source)?;
    let js =
        String::from_utf8(js).map_err(|e| format!("{} is not UTF-8: {e}", source.display()))?;
    let mut kept: String = js
        .lines()
        .map(|line| match line.find("//# sourceMappingURL=") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    kept.push('\n');
    if !kept.contains("initAll") {
        return Err(format!("{} does not export initAll", source.display()));
    }
    write(output, kept.as_bytes())
}

/// Copies every file under `web/static/` (recursively) into `assets_dir`.
fn copy_static(static_dir: &Path, assets_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(static_dir).map_err(|e| io_error("list", static_dir, &e))? {
        let entry = entry.map_err(|e| io_error("list", static_dir, &e))?;
        let path = entry.path();
        let target = assets_dir.join(entry.file_name());
        let file_type = entry.file_type().map_err(|e| io_error("stat", &path, &e))?;
        if file_type.is_dir() {
            create_dir(&target)?;
            copy_static(&path, &target)?;
        } else {
            if target.exists() {
                return Err(format!(
                    "{} would overwrite the generated asset {}",
                    path.display(),
                    target.display()
                ));
            }
            fs::copy(&path, &target).map_err(|e| io_error("copy", &path, &e))?;
        }
    }
    Ok(())
}

fn content_type(name: &str) -> Result<&'static str> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match extension.as_str() {
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => {
            return Err(format!(
                "web/static: no content type known for {name:?}; add its extension to content_type() in server/build.rs"
            ));
        }
    })
}

/// Lists files under `dir` as (name relative to the assets root, path), sorted.
fn list_files(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| io_error("list", dir, &e))? {
        let path = entry.map_err(|e| io_error("list", dir, &e))?.path();
        if path.is_dir() {
            list_files(root, &path, files)?;
        } else {
            let relative = path
                .strip_prefix(root)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let name = relative
                .components()
                .map(|part| part.as_os_str().to_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("asset file name is not UTF-8: {}", path.display()))?
                .join("/");
            files.push((name, path));
        }
    }
    Ok(())
}

fn write_assets_rs(assets_dir: &Path, output: &Path) -> Result<()> {
    let mut files = Vec::new();
    list_files(assets_dir, assets_dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no assets in {}", assets_dir.display()));
    }

    let mut hasher = Fnv1a::new();
    let mut code = String::from(
        "// Generated by server/build.rs. Do not edit.\n\n\
         /// Every embedded asset: (file name, content type, bytes).\n\
         pub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        let content_type = content_type(name)?;
        let absolute = path
            .to_str()
            .ok_or_else(|| format!("path is not UTF-8: {}", path.display()))?;
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(&read(path)?);
        hasher.update(b"\0");
        let _ = writeln!(
            code,
            "    ({name:?}, {content_type:?}, include_bytes!({absolute:?})),"
        );
    }
    code.push_str("];\n\n");
    let _ = writeln!(
        code,
        "/// A short hex hash of all asset contents, for cache-busting URLs.\n\
         pub const ASSET_VERSION: &str = {:?};",
        hasher.hex()
    );
    write(output, code.as_bytes())
}

/// 64-bit FNV-1a: tiny, std-only, and plenty for cache busting.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}
