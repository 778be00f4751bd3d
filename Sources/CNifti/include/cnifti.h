#ifndef CNIFTI_H
#define CNIFTI_H
/* Small, prefixed wrapper over libnifti2 (which reads NIfTI-1 and NIfTI-2) so Swift never sees
   nifti_image. Matrices are 4x4 row-major doubles. */
#include <stdint.h>
#include <stddef.h>

/* Header fields as stored, plus the two transforms libnifti derives from them. */
typedef struct {
    int ndim;                 /* dim[0] */
    int64_t dim[8];           /* dim[1..7] are the extents */
    double pixdim[8];
    int datatype;             /* NIfTI DT_* code */
    int bytes_per_voxel;
    double scl_slope;
    double scl_inter;
    int qform_code;
    int sform_code;
    double qform[16];         /* qto_xyz from the quaternion fields */
    double sform[16];         /* sto_xyz from srow_x/y/z */
    int xyz_units;
    char descrip[81];
} cnifti_header;

typedef struct cnifti_image cnifti_image;

/* Opens a file and reads its header only (no voxel data). Returns NULL when the file cannot be read
   as NIfTI/ANALYZE; `header` is filled on success. */
cnifti_image *cnifti_open(const char *path, cnifti_header *header);
/* Reads the voxel data (byte-swapped to native order). Returns 0 on success, -3 when gzip data is
   corrupt (bad CRC or stream), -1 when the data is short or unreadable. */
int cnifti_load(cnifti_image *image);
void cnifti_close(cnifti_image *image);

/* Converts the first `count` loaded voxels to float as value*slope+inter (slope 1, inter 0 for no
   scaling). Returns 0, or -1 for an unsupported datatype. */
int cnifti_to_float(const cnifti_image *image, float *out, int64_t count, double slope, double inter);
/* Converts to int32 as round(value*slope+inter). Voxels that are not integral or do not fit an int32
   are counted in *bad (and stored as 0). Returns 0, or -1 for an unsupported datatype. */
int cnifti_to_int32(const cnifti_image *image, int32_t *out, int64_t count, double slope, double inter,
                    int64_t *bad);

/* Writes a 3-D NIfTI-1 volume with both sform and qform (codes 1) set from `affine`. The compression
   follows the file name (.nii.gz is gzipped). Float input is rounded and
   clamped to the range of an integer `datatype`. After writing, the file is read back to check
   its size. Returns 0 on success; otherwise writes a message into err. */
int cnifti_write_float(const char *path, const int64_t dims[3], const double affine[16], int datatype,
                       const float *data, char *err, size_t err_len);
int cnifti_write_int32(const char *path, const int64_t dims[3], const double affine[16], int datatype,
                       const int32_t *data, char *err, size_t err_len);

/* Reads up to `len` leading bytes of a file, decompressing .gz transparently (so the raw header can be
   checked before libnifti sees it). Returns the number of bytes read, or -1 if it cannot be opened. */
int64_t cnifti_peek(const char *path, void *buf, int64_t len);
/* Silences libnifti's own stderr diagnostics (errors are reported through return values). */
void cnifti_set_quiet(int quiet);
/* Name of a DT_* code ("FLOAT32", "INT16", ...), or "UNKNOWN". */
const char *cnifti_datatype_name(int datatype);
/* zlib's CRC-32 of `count` bytes continuing from `crc` (0 to start): the checksum of cache entries,
   from the zlib this library links anyway. */
uint32_t cnifti_crc32(uint32_t crc, const void *bytes, size_t count);
#endif
