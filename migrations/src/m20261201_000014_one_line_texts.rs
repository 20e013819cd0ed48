//! Titles and display names no longer accept characters that reorder text on screen (bidi
//! embeddings, overrides, isolates and marks) or break it into lines (U+2028, U+2029), as
//! file names already did not. Rows written before keep their length and become readable
//! under the new rule: each such character is replaced by U+FFFD, which shows that something
//! was there without reordering anything.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The characters, as the domain's `text::REORDERING_OR_BREAKING` listed them when this
/// migration was written (a migration never changes once shipped).
const CHARACTERS: [char; 13] = [
    '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
    '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
];

/// `REPLACE(REPLACE(… column …))` over every character, in the SQL both databases share.
fn cleaned(column: &str) -> String {
    CHARACTERS.iter().fold(column.to_owned(), |expr, c| format!("REPLACE({expr}, '{c}', '\u{fffd}')"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column) in [("tickets", "title"), ("users", "display_name")] {
            let expr = cleaned(column);
            db.execute_unprepared(&format!("UPDATE {table} SET {column} = {expr} WHERE {column} <> {expr}")).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The replaced characters are gone; nothing to restore, and the old rule accepts U+FFFD.
        Ok(())
    }
}
