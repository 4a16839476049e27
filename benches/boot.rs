//! Criterion benchmarks of what a Cortex start pays, in-process: a plain
//! connection and one query, the boot API with nothing pending, and bare
//! sea-orm-migration's `Migrator::up` with nothing pending. The whole-
//! process ratios are in `benches/ratios.rs`.
//!
//! `cargo bench --bench boot`

use cortex_migrate::sample::{self, SampleSpec};
use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// sea-orm-migration as it comes: the same steps, none of the overrides.
struct Bare;

impl MigratorTrait for Bare {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        <migration::Migrator as MigratorTrait>::migrations()
    }
}

fn boot(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = rt.block_on(async {
        let home = sample::write(&SampleSpec::new(1), &tmp.path().join("home"))
            .await
            .unwrap();
        cortex_migrate::open(&home.data).await.unwrap();
        cortex_migrate::open(&home.data).await.unwrap();
        home.data
    });
    let db_file = data.join("cortex.db");
    let query = || Statement::from_string(DbBackend::Sqlite, "SELECT COUNT(*) AS n FROM models");

    let mut g = c.benchmark_group("start");
    g.bench_function("plain connect + 1 query", |b| {
        b.to_async(&rt).iter(|| async {
            let db = cortex_migrate::connect::open_sqlite_file(&db_file, false)
                .await
                .unwrap();
            db.query_one_raw(query()).await.unwrap();
            db.close().await.unwrap();
        })
    });
    g.bench_function("boot, nothing pending", |b| {
        b.to_async(&rt).iter(|| async {
            let db = cortex_migrate::open(&data).await.unwrap();
            db.query_one_raw(query()).await.unwrap();
            db.close().await.unwrap();
        })
    });
    g.bench_function("bare sea-orm-migration up, nothing pending", |b| {
        b.to_async(&rt).iter(|| async {
            let db = cortex_migrate::connect::open_sqlite_file(&db_file, false)
                .await
                .unwrap();
            Bare::up(&db, None).await.unwrap();
            db.close().await.unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, boot);
criterion_main!(benches);
