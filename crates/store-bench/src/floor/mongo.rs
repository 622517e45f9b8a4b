//! The MongoDB floor: plain driver calls, one per operation, on documents
//! `{_id, value, version, expires_at}` with a TTL index.

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use mongodb::bson::{Binary, DateTime, Document, doc, spec::BinarySubtype};
use mongodb::{Collection, IndexModel, options::IndexOptions};

use crate::Workload;
use crate::target::{Session, TTL, Target, floor_refresh, now_ms};

fn expires() -> DateTime {
    DateTime::from_millis((now_ms() + TTL.as_millis() as u64) as i64)
}

fn binary(value: &[u8]) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: value.to_vec(),
    }
}

/// `find_one`, `replace_one` with upsert, `insert_one`, a conditional
/// `update_one`, `delete_one`: each one round trip.
pub struct MongoFloor {
    coll: Collection<Document>,
}

impl MongoFloor {
    /// A floor on a new collection `name` of `db`.
    pub async fn create_collection(db: &mongodb::Database, name: &str) -> Result<Self> {
        let coll = db.collection::<Document>(name);
        let ttl = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(std::time::Duration::ZERO)
                    .build(),
            )
            .build();
        coll.create_index(ttl).await?;
        Ok(Self { coll })
    }

    fn document(key: &str, value: &[u8], version: i64) -> Document {
        doc! { "_id": key, "value": binary(value), "version": version, "expires_at": expires() }
    }
}

#[async_trait]
impl Target for MongoFloor {
    fn runs(&self, _workload: Workload) -> bool {
        true
    }

    async fn seed(&self, keys: &[String], value: &Bytes) -> Result<Vec<u64>> {
        let ids: Vec<&String> = keys.iter().collect();
        self.coll
            .delete_many(doc! { "_id": { "$in": ids } })
            .await?;
        for chunk in keys.chunks(1000) {
            let docs: Vec<Document> = chunk.iter().map(|k| Self::document(k, value, 1)).collect();
            self.coll.insert_many(docs).await?;
        }
        Ok(vec![1; keys.len()])
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let Some(found) = self.coll.find_one(doc! { "_id": key }).await? else {
            return Ok(None);
        };
        let live = found
            .get_datetime("expires_at")
            .is_ok_and(|e| e.timestamp_millis() > now_ms() as i64);
        if !live {
            return Ok(None);
        }
        let value = found.get_binary_generic("value")?;
        Ok(Some(Bytes::copy_from_slice(value)))
    }

    async fn upsert(&self, key: &str, value: &Bytes) -> Result<()> {
        self.coll
            .update_one(
                doc! { "_id": key },
                doc! {
                    "$set": { "value": binary(value), "expires_at": expires() },
                    "$inc": { "version": 1i64 },
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    async fn create(&self, key: &str, value: &Bytes) -> Result<()> {
        self.coll.insert_one(Self::document(key, value, 1)).await?;
        Ok(())
    }

    async fn update_if(&self, key: &str, value: &Bytes, version: u64) -> Result<u64> {
        let done = self
            .coll
            .update_one(
                doc! { "_id": key, "version": version as i64 },
                doc! {
                    "$set": { "value": binary(value), "expires_at": expires() },
                    "$inc": { "version": 1i64 },
                },
            )
            .await?;
        if done.modified_count != 1 {
            bail!("update_if: version mismatch");
        }
        Ok(version + 1)
    }

    async fn session_touch(&self, session: &mut Session) -> Result<()> {
        let key = session.downcast_ref::<String>().context("not a key")?;
        let done = self
            .coll
            .update_one(
                doc! { "_id": key.as_str() },
                doc! { "$set": { "expires_at": expires() } },
            )
            .await?;
        if done.matched_count != 1 {
            bail!("a live session is missing");
        }
        Ok(())
    }

    async fn session_delete(&self, session: Session) -> Result<()> {
        let key = session
            .downcast::<String>()
            .map_err(|_| anyhow!("not a key"))?;
        let done = self.coll.delete_one(doc! { "_id": key.as_str() }).await?;
        if done.deleted_count != 1 {
            bail!("a live session was not deleted");
        }
        Ok(())
    }

    async fn refresh(&self, user: usize) -> Result<bool> {
        floor_refresh(self, &format!("tok:u{user}")).await
    }

    async fn cleanup(&self) -> Result<()> {
        self.coll.drop().await?;
        Ok(())
    }
}
