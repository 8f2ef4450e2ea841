//! Product image records and used upload URLs, in the `catalog` tree:
//! `image\0` + product id + `0` + image id → [`StoredImage`], and `upload_used\0` + image id
//! → the time of the upload. The image bytes themselves are files in the data dir
//! (`src/media`); these records say which product shows which file, and that a presigned URL
//! was spent, so a second `PUT` is refused even after a restart.

use super::{ProductWrite, Storage, StorageResult, Tree, codec};
use crate::domain::{
    ids::{ImageId, ProductId},
    time::Millis,
};
use serde::{Deserialize, Serialize};

const IMAGE_PREFIX: &[u8] = b"image\0";
const UPLOAD_USED_PREFIX: &[u8] = b"upload_used\0";

/// One uploaded image of a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// `img_…`
    pub id: ImageId,
    /// The product whose `image_urls` holds [`StoredImage::url`].
    pub product_id: ProductId,
    /// Lowercase hex SHA-256 of the stored bytes: the file's name.
    pub sha256: String,
    /// File extension of the type (`png`, `jpg`, `webp`, `gif`).
    pub ext: String,
    /// The type found in the bytes (`image/png`, …).
    pub content_type: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Size of the file.
    pub bytes: u64,
    /// When it was uploaded.
    pub created_at: Millis,
}

impl StoredImage {
    /// The file's name under `/media/`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.sha256, self.ext)
    }

    /// Where the image is served (what `image_urls` holds).
    pub fn url(&self) -> String {
        format!("/media/{}", self.file_name())
    }
}

fn image_prefix(product: &ProductId) -> Vec<u8> {
    let mut key = IMAGE_PREFIX.to_vec();
    key.extend_from_slice(product.as_str().as_bytes());
    key.push(0);
    key
}

fn image_key(product: &ProductId, image: &ImageId) -> Vec<u8> {
    let mut key = image_prefix(product);
    key.extend_from_slice(image.as_str().as_bytes());
    key
}

fn upload_used_key(image: &ImageId) -> Vec<u8> {
    [UPLOAD_USED_PREFIX, image.as_str().as_bytes()].concat()
}

impl ProductWrite {
    /// Writes an image record.
    pub fn image(&mut self, image: &StoredImage) -> StorageResult<()> {
        self.put(
            Tree::Catalog,
            image_key(&image.product_id, &image.id),
            codec::encode(image)?,
        );
        Ok(())
    }

    /// Removes an image record.
    pub fn delete_image(&mut self, image: &StoredImage) {
        self.remove(Tree::Catalog, image_key(&image.product_id, &image.id));
    }

    /// Marks the presigned upload URL of `image` as spent (at `at`).
    pub fn upload_used(&mut self, image: &ImageId, at: Millis) -> StorageResult<()> {
        self.put(Tree::Catalog, upload_used_key(image), codec::encode(&at)?);
        Ok(())
    }
}

impl Storage {
    /// One image of a product.
    pub fn image(
        &self,
        product: &ProductId,
        image: &ImageId,
    ) -> StorageResult<Option<StoredImage>> {
        self.catalog
            .get(image_key(product, image))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Every image of one product (`Some`) or of all products (`None`), in key order.
    pub fn images(&self, product: Option<&ProductId>) -> StorageResult<Vec<StoredImage>> {
        let prefix = product.map_or_else(|| IMAGE_PREFIX.to_vec(), image_prefix);
        self.catalog
            .scan_prefix(prefix)
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// Whether the presigned upload URL of `image` was spent.
    pub fn upload_used(&self, image: &ImageId) -> StorageResult<bool> {
        Ok(self.catalog.contains_key(upload_used_key(image))?)
    }
}
