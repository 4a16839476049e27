//! The server address of a `.cortexrc` written by the builds of 6 to 9
//! September 2024 (cortex.cpp 703368b6 to 24166e4f~1), which name it
//! `host`/`port`. Every later build reads `apiServerHost`/`apiServerPort`
//! instead; from 1d1104e3 (so v1.0.0 to v1.0.12) a missing key is
//! defaulted and the file rewritten, so the user's own address and port
//! would silently become 127.0.0.1:39281 (the default since d67029b6). A
//! port the user has is theirs: this step appends `apiServerHost` and
//! `apiServerPort` with the values of `host` and `port`, leaving every
//! other byte. The rules, with the cortex.cpp files they are read from,
//! are in [`crate::cortex::cortexrc`].
//!
//! The file is the one Cortex's location rules name for the data folder
//! (`Options::config_file`, filled by `cortex-migrate` and the boot API);
//! without one the step only says so. Its change goes through the step's
//! journal and the run's backup like a file in the data folder.
//!
//! `down` puts the earlier bytes back (the recorded undo) when the file
//! still holds what `up` wrote. When a newer build has rewritten it since,
//! dropping `host`/`port`, a build before 24166e4f could not start
//! (`node["host"].as<std::string>()` throws and nothing catches it), so
//! `host`/`port` are appended again from the new keys.

use sea_orm_migration::prelude::*;

use crate::cortex::cortexrc;
use crate::toolkit::{MigrateError, Step, StepContext, StepKind, UndoOp, stored_undo};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "carry .cortexrc's host/port (builds of 6-9 Sept 2024) over to apiServerHost/apiServerPort, which every later build reads"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let Some(config) = cx.config_file()? else {
            cx.note("no .cortexrc belongs to this data folder in this run; nothing to carry over");
            return Ok(());
        };
        let text = String::from_utf8_lossy(&config.read()?).into_owned();
        match cortexrc::up(&text) {
            Ok(Some(new)) => {
                config.replace(new).await?;
                cx.note(format!(
                    "{}: host/port carried over to apiServerHost/apiServerPort",
                    config.path().display()
                ));
            }
            Ok(None) => {}
            Err(why) => cx.note(format!(
                "{} is {why}; Cortex cannot read it either, so it was left as it is",
                config.path().display()
            )),
        }
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let conn = cx.manager().get_connection();
        let changed = stored_undo(conn, self.name())
            .await?
            .is_some_and(|u| u.ops.iter().any(|op| matches!(op, UndoOp::Replace { .. })));
        cx.undo().await?;
        if !changed {
            return Ok(());
        }
        let Some(config) = cx.config_file()? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&config.read()?).into_owned();
        if let Ok(Some(new)) = cortexrc::old_keys_back(&text) {
            config.replace(new).await?;
            cx.note(format!(
                "{}: rewritten since without host/port; they were added back from \
                 apiServerHost/apiServerPort for the builds before 24166e4f",
                config.path().display()
            ));
        }
        Ok(())
    }
}
