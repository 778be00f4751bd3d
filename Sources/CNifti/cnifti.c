#include <nifti2_io.h>
#include <zlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "cnifti.h"

struct cnifti_image { nifti_image *nim; };

void cnifti_set_quiet(int quiet) { nifti_set_debug_level(quiet ? 0 : 1); }

const char *cnifti_datatype_name(int datatype) {
    switch (datatype) {
    case DT_UINT8: return "UINT8";
    case DT_INT8: return "INT8";
    case DT_INT16: return "INT16";
    case DT_UINT16: return "UINT16";
    case DT_INT32: return "INT32";
    case DT_UINT32: return "UINT32";
    case DT_INT64: return "INT64";
    case DT_UINT64: return "UINT64";
    case DT_FLOAT32: return "FLOAT32";
    case DT_FLOAT64: return "FLOAT64";
    case DT_FLOAT128: return "FLOAT128";
    case DT_COMPLEX64: return "COMPLEX64";
    case DT_COMPLEX128: return "COMPLEX128";
    case DT_COMPLEX256: return "COMPLEX256";
    case DT_RGB24: return "RGB24";
    case DT_RGBA32: return "RGBA32";
    case DT_BINARY: return "BINARY";
    default: return "UNKNOWN";
    }
}

static void copy_matrix(double out[16], const nifti_dmat44 *m) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) out[r * 4 + c] = m->m[r][c];
}

cnifti_image *cnifti_open(const char *path, cnifti_header *h) {
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) return NULL;
    memset(h, 0, sizeof(*h));
    h->ndim = (int)nim->dim[0];
    for (int i = 0; i < 8; i++) {
        h->dim[i] = nim->dim[i];
        h->pixdim[i] = nim->pixdim[i];
    }
    h->datatype = nim->datatype;
    h->bytes_per_voxel = nim->nbyper;
    h->scl_slope = nim->scl_slope;
    h->scl_inter = nim->scl_inter;
    h->qform_code = nim->qform_code;
    h->sform_code = nim->sform_code;
    copy_matrix(h->qform, &nim->qto_xyz);
    copy_matrix(h->sform, &nim->sto_xyz);
    h->xyz_units = nim->xyz_units;
    memcpy(h->descrip, nim->descrip, 80);
    h->descrip[80] = '\0';
    cnifti_image *img = malloc(sizeof(*img));
    if (!img) { nifti_image_free(nim); return NULL; }
    img->nim = nim;
    return img;
}

static int is_gz(const char *path) {
    size_t n = strlen(path);
    return n > 3 && strcmp(path + n - 3, ".gz") == 0;
}

int cnifti_load(cnifti_image *img) {
    /* nifti_image_load would replace NaN/Inf floats with 0; agg2exp reports them instead, so the
       voxel bytes are read here (gzread also reads uncompressed files). */
    if (!img || !img->nim || !img->nim->iname) return -1;
    nifti_image *nim = img->nim;
    int64_t nbytes = nim->nvox * nim->nbyper;
    /* An uncompressed file too short for its header's dims fails before the big allocation. */
    struct stat st;
    if (!is_gz(nim->iname) && stat(nim->iname, &st) == 0 && (int64_t)st.st_size < nim->iname_offset + nbytes)
        return -1;
    gzFile f = gzopen(nim->iname, "rb");
    if (!f) return -1;
    gzbuffer(f, 1u << 17);
    int ok = gzseek(f, nim->iname_offset, SEEK_SET) == nim->iname_offset;
    /* The buffer grows with the data actually decompressed (doubling, up to nbytes), so a tiny
       gzip file whose header claims 2^31 voxels fails at its end instead of allocating 8 GB. */
    int64_t capacity = nbytes < (1 << 20) ? (nbytes > 0 ? nbytes : 1) : (1 << 20);
    char *buf = malloc((size_t)capacity);
    if (!buf) { gzclose(f); return -1; }
    int64_t total = 0;
    int zerr = Z_OK;
    while (ok && total < nbytes) {
        if (total == capacity) {
            int64_t grown = capacity * 2 < nbytes ? capacity * 2 : nbytes;
            char *bigger = realloc(buf, (size_t)grown);
            if (!bigger) { ok = 0; break; }
            buf = bigger;
            capacity = grown;
        }
        int64_t want = capacity - total;
        int got = gzread(f, buf + total, (unsigned)(want > (1 << 30) ? (1 << 30) : want));
        if (got <= 0) { gzerror(f, &zerr); break; }
        total += got;
    }
    /* Reading on to the end of the stream makes zlib check the gzip CRC and length trailer. */
    if (ok && total == nbytes && gzdirect(f) == 0) {
        char tail[4096];
        int got;
        while ((got = gzread(f, tail, sizeof tail)) > 0) {}
        if (got < 0) gzerror(f, &zerr);
    }
    gzclose(f);
    if (zerr == Z_DATA_ERROR || zerr == Z_STREAM_ERROR) { free(buf); return -3; }
    if (!ok || total < nbytes) { free(buf); return -1; }
    if (nim->byteorder != nifti_short_order() && nim->swapsize > 1)
        nifti_swap_Nbytes(nim->nvox * (nim->nbyper / nim->swapsize), nim->swapsize, buf);
    if (nim->data) free(nim->data);
    nim->data = buf;
    return 0;
}

void cnifti_close(cnifti_image *img) {
    if (!img) return;
    if (img->nim) nifti_image_free(img->nim);
    free(img);
}

#define CONVERT_LOOP(CTYPE, BODY) do { \
        const CTYPE *src = (const CTYPE *)data; \
        for (int64_t n = 0; n < count; n++) { double v = (double)src[n]; BODY; } \
    } while (0)

#define DISPATCH(BODY) \
    switch (img->nim->datatype) { \
    case DT_UINT8: CONVERT_LOOP(uint8_t, BODY); break; \
    case DT_INT8: CONVERT_LOOP(int8_t, BODY); break; \
    case DT_INT16: CONVERT_LOOP(int16_t, BODY); break; \
    case DT_UINT16: CONVERT_LOOP(uint16_t, BODY); break; \
    case DT_INT32: CONVERT_LOOP(int32_t, BODY); break; \
    case DT_UINT32: CONVERT_LOOP(uint32_t, BODY); break; \
    case DT_INT64: CONVERT_LOOP(int64_t, BODY); break; \
    case DT_UINT64: CONVERT_LOOP(uint64_t, BODY); break; \
    case DT_FLOAT32: CONVERT_LOOP(float, BODY); break; \
    case DT_FLOAT64: CONVERT_LOOP(double, BODY); break; \
    default: return -1; \
    }

int cnifti_to_float(const cnifti_image *img, float *out, int64_t count, double slope, double inter) {
    if (!img || !img->nim || !img->nim->data || count > img->nim->nvox) return -1;
    const void *data = img->nim->data;
    if (slope == 1.0 && inter == 0.0) {
        DISPATCH(out[n] = (float)v)
    } else {
        DISPATCH(out[n] = (float)(v * slope + inter))
    }
    return 0;
}

int cnifti_to_int32(const cnifti_image *img, int32_t *out, int64_t count, double slope, double inter,
                    int64_t *bad) {
    if (!img || !img->nim || !img->nim->data || count > img->nim->nvox) return -1;
    const void *data = img->nim->data;
    int64_t nbad = 0;
    DISPATCH({
        double s = v * slope + inter;
        double r = nearbyint(s);
        if (!(fabs(s - r) <= 1e-4) || r < -2147483648.0 || r > 2147483647.0) { nbad++; out[n] = 0; }
        else out[n] = (int32_t)r;
    })
    *bad = nbad;
    return 0;
}

/* Counts the bytes a (possibly gzipped) file holds; -1 if it cannot be read to the end. */
static int64_t stored_length(const char *path) {
    if (!is_gz(path)) {
        struct stat st;
        return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
    }
    gzFile f = gzopen(path, "rb");
    if (!f) return -1;
    static const unsigned chunk = 1u << 20;
    char *buf = malloc(chunk);
    int64_t total = 0;
    int got;
    while (buf && (got = gzread(f, buf, chunk)) > 0) total += got;
    int errnum = 0;
    gzerror(f, &errnum);
    if (!buf || got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) total = -1;
    free(buf);
    gzclose(f);
    return total;
}

int64_t cnifti_peek(const char *path, void *buf, int64_t len) {
    gzFile f = gzopen(path, "rb");
    if (!f) return -1;
    int64_t total = 0;
    while (total < len) {
        int got = gzread(f, (char *)buf + total, (unsigned)(len - total));
        if (got <= 0) break;
        total += got;
    }
    gzclose(f);
    return total;
}

static void fill_from_double(void *dst, int datatype, int64_t n, double v) {
    switch (datatype) {
    case DT_UINT8: ((uint8_t *)dst)[n] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : nearbyint(v)); break;
    case DT_INT16: ((int16_t *)dst)[n] = (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : nearbyint(v)); break;
    case DT_INT32: ((int32_t *)dst)[n] = (int32_t)(v < -2147483648.0 ? -2147483648.0 : v > 2147483647.0 ? 2147483647.0 : nearbyint(v)); break;
    case DT_FLOAT32: ((float *)dst)[n] = (float)v; break;
    case DT_FLOAT64: ((double *)dst)[n] = v; break;
    }
}

static int write_common(const char *path, const int64_t dims[3], const double affine[16], int datatype,
                        const float *fdata, const int32_t *idata, char *err, size_t err_len) {
    if (datatype != DT_UINT8 && datatype != DT_INT16 && datatype != DT_INT32 && datatype != DT_FLOAT32 &&
        datatype != DT_FLOAT64) {
        snprintf(err, err_len, "cannot write datatype %s", cnifti_datatype_name(datatype));
        return -1;
    }
    int64_t ndims[8] = {3, dims[0], dims[1], dims[2], 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(ndims, datatype, 1);
    if (!nim) { snprintf(err, err_len, "out of memory"); return -1; }
    int64_t nvox = dims[0] * dims[1] * dims[2];
    for (int64_t n = 0; n < nvox; n++)
        fill_from_double(nim->data, datatype, n, fdata ? (double)fdata[n] : (double)idata[n]);

    nifti_dmat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = affine[r * 4 + c];
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
    nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    nim->quatern_b = qb; nim->quatern_c = qc; nim->quatern_d = qd;
    nim->qoffset_x = qx; nim->qoffset_y = qy; nim->qoffset_z = qz;
    nim->qfac = qfac;
    nim->dx = nim->pixdim[1] = dx;
    nim->dy = nim->pixdim[2] = dy;
    nim->dz = nim->pixdim[3] = dz;
    nim->pixdim[0] = qfac;
    nim->qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    if (nifti_set_filenames(nim, path, 0, 1) != 0) {
        snprintf(err, err_len, "not a NIfTI file name (expected .nii or .nii.gz)");
        nifti_image_free(nim);
        return -1;
    }
    /* libnifti prints its own write errors on stderr; the caller reports them in one line, so
     * stderr is muted during the write and errno (EFBIG, ENOSPC) is kept for the caller. */
    fflush(stderr);
    int saved_stderr = dup(2);
    int devnull = open("/dev/null", O_WRONLY);
    if (saved_stderr >= 0 && devnull >= 0) dup2(devnull, 2);
    if (devnull >= 0) close(devnull);
    errno = 0;
    nifti_image_write(nim);
    int write_errno = errno;
    fflush(stderr);
    if (saved_stderr >= 0) { dup2(saved_stderr, 2); close(saved_stderr); }
    nifti_image_free(nim);

    /* libnifti's writer returns nothing; re-read to confirm the whole file made it to disk. */
    nifti_image *check = nifti_image_read(path, 0);
    if (!check) {
        snprintf(err, err_len, "the written file cannot be read back");
        errno = write_errno;
        return -1;
    }
    int64_t expected = check->iname_offset + check->nvox * check->nbyper;
    nifti_image_free(check);
    int64_t got = stored_length(path);
    if (got < expected) {
        snprintf(err, err_len, "the written file is incomplete (%lld of %lld bytes)", (long long)(got < 0 ? 0 : got),
                 (long long)expected);
        errno = write_errno;
        return -1;
    }
    return 0;
}

int cnifti_write_float(const char *path, const int64_t dims[3], const double affine[16], int datatype,
                       const float *data, char *err, size_t err_len) {
    return write_common(path, dims, affine, datatype, data, NULL, err, err_len);
}

int cnifti_write_int32(const char *path, const int64_t dims[3], const double affine[16], int datatype,
                       const int32_t *data, char *err, size_t err_len) {
    return write_common(path, dims, affine, datatype, NULL, data, err, err_len);
}

uint32_t cnifti_crc32(uint32_t crc, const void *bytes, size_t count) {
    return (uint32_t)crc32_z(crc, (const Bytef *)bytes, count);
}
