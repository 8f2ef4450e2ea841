//! Product images (docs/API.md §14, "Media"): uploads checked by their bytes, stored as
//! content-addressed files in the data dir, recorded through the committer and shown in the
//! product's `image_urls` through its actor (so `product.updated` goes out and the log has
//! it); presigned upload URLs; resized copies for `GET /media/{file}?w=`.
//!
//! Order of an upload: the file is durable on disk, then its record is committed, then the
//! product's actor appends the URL. A crash in between leaves at most an unreferenced file
//! or record, never an acknowledged image without its bytes.

pub mod files;
pub mod picture;

use crate::{
    actors::{ActorError, product::ProductMsg, registry::ProductRegistry},
    auth::links::{LinkTokens, Purpose},
    context::Shared,
    domain::{
        ids::{ImageId, ProductId},
        product::{CatalogPatch, ImageEdit, MAX_IMAGES},
        time::{Millis, now_ms},
    },
    persistence::{ProductWrite, StorageError, StoredImage},
};
use files::{FileName, Files};
use picture::{Kind, PictureError};
use sha2::{Digest, Sha256};
use std::{collections::HashSet, path::Path, sync::Arc};

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No such product, image or file.
    #[error("not found")]
    NotFound,
    /// A presigned URL that is altered, expired or already used.
    #[error("this upload URL is invalid, expired or already used")]
    UploadRefused,
    /// Not PNG, JPEG, WebP or GIF by its bytes.
    #[error("the file is not a PNG, JPEG, WebP or GIF image")]
    Unsupported,
    /// A field-level problem (too many pixels, the product's images are full).
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`file`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The product actor refused or was unavailable.
    #[error(transparent)]
    Actor(#[from] ActorError),
    /// The database.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The files on disk, or a blocking task.
    #[error("media files: {0}")]
    Io(String),
}

impl From<PictureError> for MediaError {
    fn from(e: PictureError) -> Self {
        match e {
            PictureError::Unsupported => Self::Unsupported,
            PictureError::TooManyPixels => Self::Invalid {
                field: "file",
                message: e.to_string(),
            },
            PictureError::Codec(detail) => Self::Io(detail),
        }
    }
}

/// A picture to answer `GET /media/{file}` with.
pub struct Served {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its type.
    pub kind: Kind,
    /// The entity tag, unquoted: the SHA-256 of the original, with `-w<width>` for a copy.
    pub etag: String,
}

/// The media service.
pub struct Media {
    shared: Arc<Shared>,
    products: Arc<ProductRegistry>,
    files: Files,
    links: LinkTokens,
    /// Held while a file's existence and its records change together (an upload's file and
    /// record; a deletion's check for other references and its removal), so a deletion never
    /// removes a file an upload just committed a record for.
    files_lock: tokio::sync::Mutex<()>,
    /// Presigned uploads being processed: a second `PUT` of one URL while the first still
    /// runs is refused like one after it.
    presigned_in_flight: std::sync::Mutex<HashSet<ImageId>>,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn blocking_failed(e: tokio::task::JoinError) -> MediaError {
    MediaError::Io(format!("media task failed: {e}"))
}

impl Media {
    /// The service over `data_dir`'s media files; `links` signs presigned URLs.
    pub fn new(
        shared: Arc<Shared>,
        products: Arc<ProductRegistry>,
        data_dir: &Path,
        links: LinkTokens,
    ) -> Self {
        Self {
            shared,
            products,
            files: Files::new(data_dir),
            links,
            files_lock: tokio::sync::Mutex::new(()),
            presigned_in_flight: Default::default(),
        }
    }

    /// Checks, stores and records `bytes` as image `id` of `product`, then appends its URL to
    /// the product's `image_urls`. `presigned` marks that URL as spent in the same write.
    pub async fn add(
        &self,
        product: &ProductId,
        id: ImageId,
        bytes: Vec<u8>,
        presigned: bool,
    ) -> Result<StoredImage, MediaError> {
        let current = self
            .shared
            .read_model
            .product(product)
            .ok_or(MediaError::NotFound)?;
        let kind = Kind::sniff(&bytes).ok_or(MediaError::Unsupported)?;
        let (width, height, sha256, bytes) = tokio::task::spawn_blocking(move || {
            picture::dimensions(kind, &bytes)
                .map(|(w, h)| (w, h, hex(&Sha256::digest(&bytes)), bytes))
        })
        .await
        .map_err(blocking_failed)??;
        if current.catalog.image_urls.len() >= MAX_IMAGES {
            return Err(MediaError::Invalid {
                field: "file",
                message: format!("the product already has {MAX_IMAGES} images"),
            });
        }
        let image = StoredImage {
            id,
            product_id: product.clone(),
            sha256,
            ext: kind.ext().to_owned(),
            content_type: kind.content_type().to_owned(),
            width,
            height,
            bytes: bytes.len() as u64,
            created_at: now_ms(),
        };
        {
            let _files = self.files_lock.lock().await;
            let files = self.files.clone();
            let name = FileName {
                sha256: image.sha256.clone(),
                ext: image.ext.clone(),
            };
            tokio::task::spawn_blocking(move || files.put(&files.original(&name), &bytes))
                .await
                .map_err(blocking_failed)?
                .map_err(|e| MediaError::Io(format!("writing an image file: {e}")))?;
            let mut write = ProductWrite::default();
            write.image(&image)?;
            if presigned {
                write.upload_used(&image.id, image.created_at)?;
            }
            self.shared.committer.write_durable(write).await?;
        }
        self.edit_urls(product, ImageEdit::Append(image.url()))
            .await?;
        Ok(image)
    }

    async fn edit_urls(&self, product: &ProductId, edit: ImageEdit) -> Result<(), MediaError> {
        self.products
            .call(product, |reply| ProductMsg::Update {
                patch: Box::new(CatalogPatch {
                    image_edit: Some(edit.clone()),
                    ..CatalogPatch::default()
                }),
                reply,
            })
            .await?;
        Ok(())
    }

    /// Removes image `id` from `product`: its URL leaves `image_urls` (unless another image
    /// of the product has the same bytes) and its file goes when no image references it.
    pub async fn remove(&self, product: &ProductId, id: &ImageId) -> Result<(), MediaError> {
        let _files = self.files_lock.lock().await;
        let image = self
            .shared
            .storage
            .image(product, id)?
            .ok_or(MediaError::NotFound)?;
        let others: Vec<StoredImage> = self
            .shared
            .storage
            .images(None)?
            .into_iter()
            .filter(|other| other.id != image.id && other.sha256 == image.sha256)
            .collect();
        if !others
            .iter()
            .any(|other| other.product_id == image.product_id)
        {
            self.edit_urls(product, ImageEdit::Remove(image.url()))
                .await?;
        }
        let mut write = ProductWrite::default();
        write.delete_image(&image);
        self.shared.committer.write_durable(write).await?;
        if others.is_empty() {
            let files = self.files.clone();
            let name = FileName {
                sha256: image.sha256.clone(),
                ext: image.ext.clone(),
            };
            match tokio::task::spawn_blocking(move || files.remove(&name)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "removing an unused image file failed"),
                Err(error) => tracing::warn!(%error, "removing an unused image file failed"),
            }
        }
        Ok(())
    }

    /// A presigned upload token for one image of `product`, valid until the returned time.
    pub fn upload_token(&self, product: &ProductId) -> (String, Millis) {
        let seconds = self.shared.config.media.upload_url_seconds;
        let lifetime = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires_at = now_ms().saturating_add(lifetime);
        let id = format!("{product}.{expires_at}.{}", ImageId::generate());
        (self.links.token(Purpose::MediaUpload, &id), expires_at)
    }

    /// The product and image id of a token whose signature is right, that has not expired
    /// and was not used; else [`MediaError::UploadRefused`].
    fn check_token(&self, token: &str) -> Result<(ProductId, ImageId, Millis), MediaError> {
        let id = self
            .links
            .check(Purpose::MediaUpload, token)
            .ok_or(MediaError::UploadRefused)?;
        let mut parts = id.split('.');
        let (Some(product), Some(expires_at), Some(image), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(MediaError::UploadRefused);
        };
        let product = ProductId::parse(product).ok_or(MediaError::UploadRefused)?;
        let image = ImageId::parse(image).ok_or(MediaError::UploadRefused)?;
        let expires_at: Millis = expires_at.parse().map_err(|_| MediaError::UploadRefused)?;
        if now_ms() >= expires_at || self.shared.storage.upload_used(&image)? {
            return Err(MediaError::UploadRefused);
        }
        Ok((product, image, expires_at))
    }

    /// Claims a presigned upload before its body is read: the URL must be valid, unexpired,
    /// unused and not being used by another request right now. The claim ends when the
    /// returned guard is dropped.
    pub fn claim_upload(&self, token: &str) -> Result<UploadClaim<'_>, MediaError> {
        let (product, image, _) = self.check_token(token)?;
        let mut in_flight = self
            .presigned_in_flight
            .lock()
            .map_err(|_| MediaError::Io("presigned uploads lock poisoned".into()))?;
        if !in_flight.insert(image.clone()) {
            return Err(MediaError::UploadRefused);
        }
        Ok(UploadClaim {
            media: self,
            product,
            image,
        })
    }

    /// The picture `name` names, or its copy `width` pixels wide (made once and kept on disk;
    /// a picture not wider than `width` is answered as it is).
    pub async fn serve(&self, name: &str, width: Option<u32>) -> Result<Served, MediaError> {
        let name = FileName::parse(name).ok_or(MediaError::NotFound)?;
        let kind = Kind::from_ext(&name.ext).ok_or(MediaError::NotFound)?;
        let read = |path: std::path::PathBuf| async move {
            match tokio::task::spawn_blocking(move || std::fs::read(&path))
                .await
                .map_err(blocking_failed)?
            {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MediaError::Io(format!("reading an image file: {e}"))),
            }
        };
        let original = || async {
            read(self.files.original(&name))
                .await?
                .ok_or(MediaError::NotFound)
        };
        let Some(width) = width else {
            return Ok(Served {
                bytes: original().await?,
                kind,
                etag: name.sha256.clone(),
            });
        };
        let etag = format!("{}-w{width}", name.sha256);
        let path = self.files.resized(&name, width);
        if let Some(bytes) = read(path.clone()).await? {
            return Ok(Served { bytes, kind, etag });
        }
        let source = original().await?;
        let files = self.files.clone();
        let made = tokio::task::spawn_blocking(move || {
            let small = picture::resized(kind, &source, width)?;
            match small {
                None => Ok::<_, MediaError>((source, None)),
                Some(small) => {
                    files
                        .put(&path, &small)
                        .map_err(|e| MediaError::Io(format!("writing a resized image: {e}")))?;
                    Ok((source, Some(small)))
                }
            }
        })
        .await
        .map_err(blocking_failed)??;
        Ok(match made {
            (_, Some(small)) => Served {
                bytes: small,
                kind,
                etag,
            },
            (source, None) => Served {
                bytes: source,
                kind,
                etag: name.sha256.clone(),
            },
        })
    }
}

/// A presigned upload being processed (see [`Media::claim_upload`]).
pub struct UploadClaim<'a> {
    media: &'a Media,
    product: ProductId,
    image: ImageId,
}

impl UploadClaim<'_> {
    /// Stores the uploaded bytes and spends the URL.
    pub async fn complete(self, bytes: Vec<u8>) -> Result<StoredImage, MediaError> {
        self.media
            .add(&self.product, self.image.clone(), bytes, true)
            .await
    }
}

impl Drop for UploadClaim<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.media.presigned_in_flight.lock() {
            in_flight.remove(&self.image);
        }
    }
}
