#include "agent/install.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/process.h"

namespace kubeos::agent {
namespace {

// mke2fs of a root filesystem: generous bound for multi-GiB trees on slow disks.
constexpr std::chrono::minutes kMkfsTimeout{30};
constexpr size_t kExtMagicAt = 1024 + 0x38;
constexpr size_t kTarMagicAt = 257;
// ext2/3/4 superblock (at byte 1024 of the filesystem), field offsets from e2fsprogs' struct
// ext2_super_block.
constexpr size_t kSuperblockAt = 1024;
constexpr size_t kSuperblockSize = 1024;
constexpr size_t kSbRoCompat = 0x64;
constexpr uint32_t kRoCompatMetadataCsum = 0x400;
constexpr size_t kSbVolumeName = 0x78;
constexpr size_t kSbVolumeNameSize = 16;
constexpr size_t kSbChecksumType = 0x175;
constexpr unsigned char kChecksumTypeCrc32c = 1;
constexpr size_t kSbChecksum = 0x3FC;
constexpr size_t kSbBlocksCountLo = 0x04;
constexpr size_t kSbFirstDataBlock = 0x14;
constexpr size_t kSbLogBlockSize = 0x18;
constexpr size_t kSbBlocksPerGroup = 0x20;
constexpr size_t kSbFeatureCompat = 0x5C;
constexpr size_t kSbFeatureIncompat = 0x60;
constexpr size_t kSbBlocksCountHi = 0x150;
constexpr size_t kSbBackupBgs = 0x24C;
constexpr uint32_t kCompatSparseSuper2 = 0x200;
constexpr uint32_t kIncompat64Bit = 0x80;
constexpr uint32_t kRoCompatSparseSuper = 0x1;

uint32_t LoadLe32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}
void StoreLe32(std::span<char> s, size_t at, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = MakeCrc32cTable();

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    KUBEOS_CHECK(ctx_ && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1);
  }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(std::string_view d) { KUBEOS_CHECK(EVP_DigestUpdate(ctx_, d.data(), d.size()) == 1); }
  std::string HexFinal() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    KUBEOS_CHECK(EVP_DigestFinal_ex(ctx_, md, &len) == 1);
    std::string out;
    for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

Status PwriteAll(int fd, std::string_view data, uint64_t offset, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }

// Direct I/O alignment: covers 512-byte and 4 KiB logical blocks.
constexpr size_t kDirectAlign = 4096;

// A kWriteChunkBytes buffer aligned for O_DIRECT.
class ChunkBuffer {
 public:
  ChunkBuffer() : data_(static_cast<char*>(std::aligned_alloc(kDirectAlign, kWriteChunkBytes))) {
    KUBEOS_CHECK(data_ != nullptr);
  }
  ChunkBuffer(const ChunkBuffer&) = delete;
  ChunkBuffer& operator=(const ChunkBuffer&) = delete;
  ~ChunkBuffer() { std::free(data_); }  // NOLINT(cppcoreguidelines-no-malloc): aligned_alloc's pair
  void Swap(ChunkBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }
  // Appends from `d`; when `d` starts at free_space() (the source read straight into this buffer) the bytes
  // are already in place and only the size moves.
  size_t Append(std::string_view d) {
    size_t take = std::min(d.size(), kWriteChunkBytes - size_);
    if (d.data() != data_ + size_) std::memcpy(data_ + size_, d.data(), take);
    size_ += take;
    return take;
  }
  std::span<char> free_space() { return {data_ + size_, kWriteChunkBytes - size_}; }
  std::span<char> filled() { return {data_, size_}; }
  std::string_view view() const { return {data_, size_}; }
  size_t size() const { return size_; }
  bool full() const { return size_ == kWriteChunkBytes; }
  void clear() { size_ = 0; }

 private:
  char* data_;
  size_t size_ = 0;
};

// Buffers in the writer's ring: the caller fills one while the hash and write threads work through the
// others, each at its own pace (the disk does not wait for SHA-256 and the other way round). 3 x 4 MiB keeps
// peak RSS under the 32 MiB budget.
constexpr size_t kRingBuffers = 3;

// Writes the payload bytes to a target (slot or staging file) at increasing offsets, through a ring of
// kRingBuffers buffers and two worker threads: the caller fills a buffer and submits it; a hash thread runs
// SHA-256 over submitted buffers in order and, independently, a write thread writes them in order; a buffer
// is refilled once both are done with it. So reading, hashing and the disk all run at once. With `direct_fd`
// (the slot opened O_DIRECT) whole aligned blocks bypass the page cache: no second copy of the image through
// memory and no dirty-page writeback storm; an unaligned tail goes through `fd`. Without it, each chunk's
// writeback is started with sync_file_range. Durability comes from the caller's fdatasync either way.
class PipelinedWriter {
 public:
  // Superblocks to relabel on their way to the disk: byte offsets (increasing) and the label. The write
  // thread patches a buffer only after the hash thread is done with it (the digest covers the image as
  // sent), so those few buffers are written after their hash instead of beside it.
  struct Relabel {
    std::vector<uint64_t> offsets;
    std::string label;
  };
  // `limit`: the target's size; writing past it fails (a slot file must not grow, a device would ENOSPC).
  PipelinedWriter(int fd, int direct_fd, std::string what, uint64_t start, uint64_t limit, Sha256& sha,
                  Relabel relabel = {})
      : fd_(fd),
        direct_fd_(direct_fd),
        what_(std::move(what)),
        offset_(start),
        limit_(limit),
        sha_(sha),
        relabel_(std::move(relabel)) {
    hasher_ = std::jthread([this](const std::stop_token& st) { Run(st, /*hash=*/true); });
    writer_ = std::jthread([this](const std::stop_token& st) { Run(st, /*hash=*/false); });
  }
  PipelinedWriter(const PipelinedWriter&) = delete;
  PipelinedWriter& operator=(const PipelinedWriter&) = delete;
  ~PipelinedWriter() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

  Status Write(std::string_view d) {
    if (end() + d.size() > limit_) {
      return ResourceExhausted(fmt::format("payload is larger than {} ({} bytes)", what_, limit_));
    }
    while (!d.empty()) {
      ChunkBuffer& b = ring_[fill_].buf;
      d.remove_prefix(b.Append(d));
      if (b.full()) KUBEOS_RETURN_IF_ERROR(Submit());
    }
    return Status::Ok();
  }
  // Where the caller may put the next bytes before handing them to Write (zero-copy for local sources).
  std::span<char> Space() { return ring_[fill_].buf.free_space(); }
  // Submits the partial buffer and waits until everything is hashed and written.
  Status Flush() {
    if (ring_[fill_].buf.size() > 0) KUBEOS_RETURN_IF_ERROR(Submit());
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return std::all_of(std::begin(ring_), std::end(ring_), [](const Entry& e) { return e.idle(); });
    });
    return error_;
  }
  // Time spent so far: hashing, writing (each on its own thread), the caller waiting for a free buffer and
  // the hash thread waiting for data.
  struct Timing {
    std::chrono::nanoseconds hash{0}, write{0}, wait{0}, hash_idle{0};
  };
  Timing timing() {
    std::lock_guard lock(mu_);
    return {hash_, write_, wait_, hash_idle_};
  }
  // Backup superblocks relabeled so far.
  int relabeled() {
    std::lock_guard lock(mu_);
    return relabeled_;
  }
  // Absolute end offset of the bytes written so far (the held-back header included).
  uint64_t end() const { return offset_ + end_ + ring_[fill_].buf.size(); }

 private:
  struct Entry {
    ChunkBuffer buf;
    uint64_t offset = 0;      // guarded by mu_
    bool need_hash = false;   // guarded by mu_
    bool need_write = false;  // guarded by mu_
    bool idle() const { return !need_hash && !need_write; }
  };

  Status Submit() {
    std::unique_lock lock(mu_);
    Entry& e = ring_[fill_];
    e.offset = offset_ + end_;
    end_ += e.buf.size();
    e.need_hash = true;
    e.need_write = true;
    fill_ = (fill_ + 1) % kRingBuffers;
    cv_.notify_all();
    auto t0 = std::chrono::steady_clock::now();
    cv_.wait(lock, [&] { return ring_[fill_].idle() || !error_.ok(); });  // the next buffer is free
    wait_ += std::chrono::steady_clock::now() - t0;
    if (!error_.ok()) return error_;
    ring_[fill_].buf.clear();
    return Status::Ok();
  }

  bool NeedsRelabel(uint64_t off, size_t size) const {
    auto it = std::lower_bound(relabel_.offsets.begin(), relabel_.offsets.end(), off);
    return it != relabel_.offsets.end() && *it < off + size;
  }
  // Write thread, with the hash thread done with `buf`: relabels every whole superblock inside it.
  void RelabelIn(std::span<char> buf, uint64_t off) {
    for (auto it = std::lower_bound(relabel_.offsets.begin(), relabel_.offsets.end(), off);
         it != relabel_.offsets.end() && *it + kSuperblockSize <= off + buf.size(); ++it) {
      if (PatchSuperblockLabel(buf.subspan(*it - off, kSuperblockSize), relabel_.label)) ++relabeled_;
    }
  }

  Status WriteBlock(std::string_view data, uint64_t off) {
    if (direct_fd_ >= 0 && off % kDirectAlign == 0) {
      size_t aligned = data.size() - data.size() % kDirectAlign;
      if (aligned > 0) KUBEOS_RETURN_IF_ERROR(PwriteAll(direct_fd_, data.substr(0, aligned), off, what_));
      data.remove_prefix(aligned);
      off += aligned;
      if (data.empty()) return Status::Ok();
    }
    KUBEOS_RETURN_IF_ERROR(PwriteAll(fd_, data, off, what_));
    // Start writeback now (asynchronously); durability still comes from the final fdatasync.
    sync_file_range(fd_, static_cast<off_t>(off), static_cast<off_t>(data.size()), SYNC_FILE_RANGE_WRITE);
    return Status::Ok();
  }

  void Run(const std::stop_token& st, bool hash) {
    size_t idx = 0;
    for (;;) {
      std::unique_lock lock(mu_);
      Entry& e = ring_[idx];
      bool& need = hash ? e.need_hash : e.need_write;
      auto idle_from = std::chrono::steady_clock::now();
      cv_.wait(lock, [&] { return need || stopping_ || st.stop_requested(); });
      if (!need) return;
      if (hash && started_) hash_idle_ += std::chrono::steady_clock::now() - idle_from;
      if (hash) started_ = true;
      uint64_t off = e.offset;
      if (!hash && NeedsRelabel(off, e.buf.size())) {
        cv_.wait(lock, [&] { return !e.need_hash || stopping_ || st.stop_requested(); });
        if (e.need_hash) return;
        RelabelIn(e.buf.filled(), off);
      }
      lock.unlock();
      Status r;
      auto t0 = std::chrono::steady_clock::now();
      if (hash) {
        sha_.Update(e.buf.view());  // only this thread touches sha_ while a writer exists
      } else {
        r = WriteBlock(e.buf.view(), off);
      }
      auto busy = std::chrono::steady_clock::now() - t0;
      lock.lock();
      (hash ? hash_ : write_) += busy;
      if (!r.ok() && error_.ok()) error_ = r;
      need = false;
      idx = (idx + 1) % kRingBuffers;
      cv_.notify_all();
    }
  }

  int fd_;
  int direct_fd_;  // -1: no direct I/O
  std::string what_;
  uint64_t offset_;  // file offset of the first byte given to Write (the held-back header precedes it)
  uint64_t limit_;
  Sha256& sha_;
  const Relabel relabel_;
  int relabeled_ = 0;                  // guarded by mu_
  uint64_t end_ = 0;                   // caller thread only: bytes submitted
  std::chrono::nanoseconds wait_{0};   // guarded by mu_
  std::chrono::nanoseconds hash_{0};   // guarded by mu_
  std::chrono::nanoseconds write_{0};  // guarded by mu_
  // guarded by mu_: the hash thread waiting for data (after its first buffer)
  std::chrono::nanoseconds hash_idle_{0};
  bool started_ = false;  // guarded by mu_
  size_t fill_ = 0;       // caller thread only: the buffer being filled (idle while the caller owns it)

  std::mutex mu_;
  std::condition_variable cv_;
  Entry ring_[kRingBuffers];  // a buffer's bytes: the caller's while idle, else read by the workers
  Status error_;              // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::jthread hasher_;       // the two threads last: joined first on destruction
  std::jthread writer_;
};

Status ExtractTar(const std::filesystem::path& tar, const std::filesystem::path& dest) {
  struct ReadDel {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  struct WriteDel {
    void operator()(archive* a) const { archive_write_free(a); }
  };
  std::unique_ptr<archive, ReadDel> in(archive_read_new());
  std::unique_ptr<archive, WriteDel> out(archive_write_disk_new());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  archive_read_support_filter_all(in.get());
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR |
              ARCHIVE_EXTRACT_FFLAGS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;
  if (geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(out.get(), flags);
  archive_write_disk_set_standard_lookup(out.get());
  auto err = [&](archive* a, std::string_view what) {
    return InvalidArgumentError(fmt::format("extract {}: {}: {}", tar.string(), what,
                                            archive_error_string(a) ? archive_error_string(a) : "error"));
  };
  if (archive_read_open_filename(in.get(), tar.c_str(), 1 << 16) != ARCHIVE_OK) return err(in.get(), "open");
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return err(in.get(), "read header");
    std::string name = archive_entry_pathname(e);
    // Entries are re-rooted under `dest` (an absolute path), so libarchive's own absolute-path check cannot
    // be used; refuse absolute names here ("..": SECURE_NODOTDOT; symlink escapes: SECURE_SYMLINKS).
    if (name.empty() || name.front() == '/') {
      return InvalidArgumentError(
          fmt::format("extract {}: entry \"{}\" has an absolute path", tar.string(), name));
    }
    archive_entry_set_pathname(e, (dest / name).c_str());
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      if (link[0] == '/')
        return InvalidArgumentError(fmt::format("extract {}: hard link {} is absolute", tar.string(), link));
      archive_entry_set_hardlink(e, (dest / link).c_str());
    }
    if (archive_write_header(out.get(), e) < ARCHIVE_WARN) return err(out.get(), name);
    if (archive_entry_size(e) > 0) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t off = 0;
      while ((r = archive_read_data_block(in.get(), &buf, &size, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, off) < ARCHIVE_WARN) return err(out.get(), name);
      }
      if (r != ARCHIVE_EOF) return err(in.get(), name);
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) return err(out.get(), name);
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) return err(out.get(), "close");
  return Status::Ok();
}

// Receives the payload stream; decides its kind from the first kHeaderHoldBytes.
class PayloadSink {
 public:
  PayloadSink(const HostDescription& host, Slot standby, InstallProgress& progress,
              std::function<Status()> before_first_write)
      : host_(host),
        standby_(standby),
        slot_path_(host.slot_path(standby)),
        progress_(progress),
        before_first_write_(std::move(before_first_write)) {}

  Status OnSize(std::optional<uint64_t> total) {
    total_ = total;
    progress_.total = total.value_or(0);
    return Status::Ok();
  }

  Status OnData(std::string_view d) {
    progress_.bytes += d.size();
    if (kind_ == PayloadKind::kUnknown) {
      size_t take = std::min(d.size(), kHeaderHoldBytes - head_.size());
      head_.append(d.substr(0, take));
      sha_.Update(d.substr(0, take));  // the header is hashed here, everything after it by the writer
      d.remove_prefix(take);
      if (head_.size() < kHeaderHoldBytes) return Status::Ok();
      KUBEOS_RETURN_IF_ERROR(Open());
    }
    return writer_->Write(d);
  }

  // The source's read target: the writer's current ring buffer once the payload kind is known (before that
  // the first bytes go through the source's own buffer and are copied into the header).
  std::span<char> Buffer() { return writer_ ? writer_->Space() : std::span<char>(); }

  // After the whole stream: compares the digest, then makes the slot (or staging) complete.
  Status Finish(const std::string& expected_sha) {
    if (kind_ == PayloadKind::kUnknown) KUBEOS_RETURN_IF_ERROR(Open());
    KUBEOS_RETURN_IF_ERROR(writer_->Flush());
    progress_.phase = InstallPhase::kVerifying;
    std::string got = sha_.HexFinal();
    if (got != Lower(expected_sha)) {
      return InvalidArgumentError(fmt::format(
          "checksum mismatch: payload sha256 {} but the request expects {}; nothing was activated", got,
          Lower(expected_sha)));
    }
    return kind_ == PayloadKind::kExtImage ? CommitImage() : BuildFromTar();
  }

  PipelinedWriter::Timing timing() { return writer_ ? writer_->timing() : PipelinedWriter::Timing{}; }
  int backups_relabeled() { return writer_ ? writer_->relabeled() : 0; }
  // Time of the synchronous invalidation before the first write (state write, header zeroed and synced).
  std::chrono::nanoseconds prepare_time() const { return prepare_; }

  // Removes staging files (the slot stays invalid: header zeroed, state kInvalid).
  void Cleanup() {
    std::error_code ec;
    std::filesystem::remove_all(host_.staging_dir(), ec);
  }

 private:
  Status Open() {
    kind_ = SniffPayload(head_);
    if (kind_ == PayloadKind::kUnknown) {
      return InvalidArgumentError(
          "payload is neither a tar archive (os.tar) nor an ext2/3/4 filesystem image");
    }
    // Every check that needs no write comes first: a refused payload leaves the standby as it was.
    KUBEOS_ASSIGN_OR_RETURN(capacity_, DeviceSize(slot_path_));
    if (kind_ == PayloadKind::kExtImage && total_ && *total_ > capacity_) {
      return ResourceExhausted(fmt::format("image is {} bytes but slot {} ({}) holds {}", *total_,
                                           SlotName(standby_), slot_path_.string(), capacity_));
    }
    if (kind_ == PayloadKind::kTar) KUBEOS_RETURN_IF_ERROR(CheckStagingSpace());
    if (kind_ == PayloadKind::kExtImage) {  // a header whose label cannot be set is refused before any write
      std::string probe = head_;
      KUBEOS_RETURN_IF_ERROR(PatchExtLabel(probe, SlotLabel(standby_)));
    }
    auto t0 = std::chrono::steady_clock::now();
    if (before_first_write_) KUBEOS_RETURN_IF_ERROR(before_first_write_());
    KUBEOS_RETURN_IF_ERROR(OpenSlotAndInvalidate());
    prepare_ = std::chrono::steady_clock::now() - t0;
    if (kind_ == PayloadKind::kExtImage) {
      // Direct I/O for the image body when the slot supports it (block devices, most filesystems; not tmpfs).
      direct_fd_ = Fd(open(slot_path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
      if (direct_fd_.get() < 0)
        log::Info("slot without direct I/O; writing through the page cache",
                  {{"slot", slot_path_.string()}, {"errno", errno}});
      // The backup superblocks get the slot's label too (the primary is in the held-back header).
      PipelinedWriter::Relabel relabel{.offsets = {}, .label = SlotLabel(standby_)};
      for (uint64_t at : ExtBackupSuperblockOffsets(head_)) {
        if (at >= head_.size() && at + kSuperblockSize <= capacity_) relabel.offsets.push_back(at);
      }
      writer_ = std::make_unique<PipelinedWriter>(slot_fd_.get(), direct_fd_.get(), slot_path_.string(),
                                                  head_.size(), capacity_, sha_, std::move(relabel));
      return Status::Ok();
    }
    return OpenStaging();
  }

  Status OpenSlotAndInvalidate() {
    slot_fd_ = Fd(open(slot_path_.c_str(), O_WRONLY | O_CLOEXEC));
    if (slot_fd_.get() < 0) return ErrnoError(errno, "open slot " + slot_path_.string());
    // Zero the superblock region first and make it durable: from here on the slot holds no filesystem
    // until Commit writes the verified header.
    std::string zeros(std::min<uint64_t>(kHeaderHoldBytes, capacity_), '\0');
    KUBEOS_RETURN_IF_ERROR(PwriteAll(slot_fd_.get(), zeros, 0, slot_path_.string()));
    if (fdatasync(slot_fd_.get()) != 0) return ErrnoError(errno, "fsync " + slot_path_.string());
    return Status::Ok();
  }

  // The tar and its extracted tree are both staged: twice the payload plus a margin.
  Status CheckStagingSpace() {
    std::filesystem::path dir = host_.persist_dir;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoError(ec.value(), "create " + dir.string());
    struct statvfs vfs {};
    if (statvfs(dir.c_str(), &vfs) != 0) return ErrnoError(errno, "statvfs " + dir.string());
    uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    uint64_t need = 2 * total_.value_or(0) + kStagingMarginBytes;
    if (free_bytes < need) {
      return ResourceExhausted(
          fmt::format("{} has {} bytes free; staging this payload needs {}", dir.string(), free_bytes, need));
    }
    return Status::Ok();
  }

  Status OpenStaging() {
    std::filesystem::path dir = host_.staging_dir();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoError(ec.value(), "create " + dir.string());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    tar_path_ = dir / "os.tar";
    tar_fd_ = Fd(open(tar_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (tar_fd_.get() < 0) return ErrnoError(errno, "create " + tar_path_.string());
    KUBEOS_RETURN_IF_ERROR(PwriteAll(tar_fd_.get(), head_, 0, tar_path_.string()));
    writer_ = std::make_unique<PipelinedWriter>(tar_fd_.get(), -1, tar_path_.string(), head_.size(),
                                                std::numeric_limits<uint64_t>::max(), sha_);
    return Status::Ok();
  }

  Status CommitImage() {
    if (writer_->end() > capacity_) {
      return ResourceExhausted(fmt::format("image is {} bytes but slot {} holds {}", writer_->end(),
                                           SlotName(standby_), capacity_));
    }
    progress_.phase = InstallPhase::kFinishing;
    // Body durable first, header last: a crash in between leaves a slot without a superblock. (fdatasync is
    // per inode: it covers the O_DIRECT writes too, and flushes the device's cache.)
    direct_fd_ = Fd();
    if (fdatasync(slot_fd_.get()) != 0) return ErrnoError(errno, "fsync " + slot_path_.string());
    // The label goes into the verified header before it is written: the slot's first superblock on disk
    // already says ROOT-<standby> (an image built for the other slot, e.g. kbimg's default ROOT-A, would
    // otherwise give two partitions the booted slot's label until a relabel, and GRUB's search --label or
    // findfs could pick the wrong one after a cut there). The backup superblocks were relabelled on their
    // way to the disk (PipelinedWriter::Relabel).
    KUBEOS_RETURN_IF_ERROR(PatchExtLabel(head_, SlotLabel(standby_)));
    KUBEOS_RETURN_IF_ERROR(PwriteAll(slot_fd_.get(), head_, 0, slot_path_.string()));
    if (fdatasync(slot_fd_.get()) != 0) return ErrnoError(errno, "fsync " + slot_path_.string());
    slot_fd_ = Fd();
    return Status::Ok();
  }

  Status BuildFromTar() {
    progress_.phase = InstallPhase::kBuilding;
    if (fsync(tar_fd_.get()) != 0) return ErrnoError(errno, "fsync " + tar_path_.string());
    tar_fd_ = Fd();
    std::filesystem::path rootfs = host_.staging_dir() / "rootfs";
    std::error_code ec;
    std::filesystem::create_directories(rootfs, ec);
    if (ec) return ErrnoError(ec.value(), "create " + rootfs.string());
    KUBEOS_RETURN_IF_ERROR(ExtractTar(tar_path_, rootfs));
    std::filesystem::remove(tar_path_, ec);  // free the space before mke2fs reads the tree
    slot_fd_ = Fd();
    KUBEOS_ASSIGN_OR_RETURN(RunResult r,
                            RunProgram({"mke2fs", "-F", "-q", "-t", "ext4", "-E", "nodiscard", "-L",
                                        SlotLabel(standby_), "-d", rootfs.string(), slot_path_.string()},
                                       kMkfsTimeout));
    if (r.exit_code != 0) {
      return InternalError(fmt::format("mke2fs on slot {} ({}): exit {}: {}", SlotName(standby_),
                                       slot_path_.string(), r.exit_code, r.output));
    }
    Cleanup();
    return Status::Ok();
  }

  const HostDescription& host_;
  Slot standby_;
  std::filesystem::path slot_path_;
  InstallProgress& progress_;
  std::function<Status()> before_first_write_;
  Sha256 sha_;
  std::optional<uint64_t> total_;
  std::string head_;
  PayloadKind kind_ = PayloadKind::kUnknown;
  uint64_t capacity_ = 0;
  Fd slot_fd_;
  Fd direct_fd_;  // the slot again with O_DIRECT (image body), or -1
  Fd tar_fd_;
  std::filesystem::path tar_path_;
  std::chrono::nanoseconds prepare_{0};
  std::unique_ptr<PipelinedWriter> writer_;  // declared after sha_: destroyed (joined) before it
};

}  // namespace

std::string_view InstallPhaseName(InstallPhase phase) {
  switch (phase) {
    case InstallPhase::kIdle:
      return "idle";
    case InstallPhase::kDownloading:
      return "downloading";
    case InstallPhase::kVerifying:
      return "verifying";
    case InstallPhase::kBuilding:
      return "building";
    case InstallPhase::kFinishing:
      return "finishing";
    case InstallPhase::kDone:
      return "done";
    case InstallPhase::kFailed:
      return "failed";
  }
  return "unknown";
}

PayloadKind SniffPayload(std::string_view head) {
  if (head.size() >= kTarMagicAt + 5 && head.substr(kTarMagicAt, 5) == "ustar") return PayloadKind::kTar;
  if (head.size() >= kExtMagicAt + 2 && static_cast<unsigned char>(head[kExtMagicAt]) == 0x53 &&
      static_cast<unsigned char>(head[kExtMagicAt + 1]) == 0xEF) {
    return PayloadKind::kExtImage;
  }
  return PayloadKind::kUnknown;
}

uint32_t Crc32cRaw(uint32_t crc, std::string_view data) {
  for (char ch : data) crc = kCrc32cTable[(crc ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc >> 8);
  return crc;
}

bool PatchSuperblockLabel(std::span<char> sb, std::string_view label) {
  std::string_view v(sb.data(), sb.size());
  if (sb.size() < kSuperblockSize || label.size() > kSbVolumeNameSize ||
      static_cast<unsigned char>(v[0x38]) != 0x53 || static_cast<unsigned char>(v[0x39]) != 0xEF) {
    return false;
  }
  bool csum = (LoadLe32(v, kSbRoCompat) & kRoCompatMetadataCsum) != 0;
  if (csum && static_cast<unsigned char>(v[kSbChecksumType]) != kChecksumTypeCrc32c) return false;
  std::memset(sb.data() + kSbVolumeName, 0, kSbVolumeNameSize);
  std::memcpy(sb.data() + kSbVolumeName, label.data(), label.size());
  if (csum) StoreLe32(sb, kSbChecksum, Crc32cRaw(~0U, v.substr(0, kSbChecksum)));
  return true;
}

Status PatchExtLabel(std::string& head, std::string_view label) {
  if (head.size() < kSuperblockAt + kSuperblockSize || SniffPayload(head) != PayloadKind::kExtImage) {
    return InvalidArgumentError("set filesystem label: no ext2/3/4 superblock in the image header");
  }
  if (label.size() > kSbVolumeNameSize) {
    return InvalidArgumentError(fmt::format("set filesystem label: \"{}\" is longer than 16 bytes", label));
  }
  if (!PatchSuperblockLabel(std::span<char>(head.data() + kSuperblockAt, kSuperblockSize), label)) {
    return InvalidArgumentError(
        fmt::format("set filesystem label: unknown superblock checksum type {}",
                    static_cast<unsigned char>(head[kSuperblockAt + kSbChecksumType])));
  }
  return Status::Ok();
}

std::vector<uint64_t> ExtBackupSuperblockOffsets(std::string_view head) {
  std::vector<uint64_t> out;
  if (head.size() < kSuperblockAt + kSuperblockSize || SniffPayload(head) != PayloadKind::kExtImage)
    return out;
  std::string_view sb = head.substr(kSuperblockAt, kSuperblockSize);
  uint32_t log_block = LoadLe32(sb, kSbLogBlockSize);
  uint64_t per_group = LoadLe32(sb, kSbBlocksPerGroup);
  if (log_block > 6 || per_group == 0) return out;  // not a plausible superblock (block size > 64 KiB)
  uint64_t block = uint64_t{1024} << log_block;
  uint64_t first = LoadLe32(sb, kSbFirstDataBlock);
  uint64_t blocks = LoadLe32(sb, kSbBlocksCountLo);
  if ((LoadLe32(sb, kSbFeatureIncompat) & kIncompat64Bit) != 0) {
    blocks |= uint64_t{LoadLe32(sb, kSbBlocksCountHi)} << 32;
  }
  if (blocks <= first) return out;
  uint64_t groups = (blocks - first + per_group - 1) / per_group;
  auto at = [&](uint64_t g) { return (first + g * per_group) * block; };
  if ((LoadLe32(sb, kSbFeatureCompat) & kCompatSparseSuper2) != 0) {
    for (size_t i = 0; i < 2; ++i) {
      uint64_t g = LoadLe32(sb, kSbBackupBgs + 4 * i);
      if (g != 0 && g < groups && (out.empty() || at(g) > out.back())) out.push_back(at(g));
    }
    return out;
  }
  bool sparse = (LoadLe32(sb, kSbRoCompat) & kRoCompatSparseSuper) != 0;
  auto is_power = [](uint64_t g, uint64_t base) {
    while (g % base == 0) g /= base;
    return g == 1;
  };
  for (uint64_t g = 1; g < groups; ++g) {
    if (!sparse || g == 1 || is_power(g, 3) || is_power(g, 5) || is_power(g, 7)) out.push_back(at(g));
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexFinal();
}

Status InstallPayload(const HostDescription& host, Slot standby, const InstallRequest& request,
                      InstallProgress& progress) {
  std::string expected = Lower(request.sha256);
  if (expected.size() != 64 || expected.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("check_sum must be the 64-hex-digit SHA-256 of the payload");
  }
  progress.phase = InstallPhase::kDownloading;
  progress.bytes = 0;
  progress.total = 0;
  PayloadSink sink(host, standby, progress, request.before_first_write);
  FetchCallbacks cb{.on_size = [&](std::optional<uint64_t> t) { return sink.OnSize(t); },
                    .on_data = [&](std::string_view d) { return sink.OnData(d); },
                    .buffer = [&] { return sink.Buffer(); }};
  auto t0 = std::chrono::steady_clock::now();
  Status s = Fetch(request.fetch, cb);
  auto t1 = std::chrono::steady_clock::now();
  if (s.ok()) s = sink.Finish(expected);
  auto t2 = std::chrono::steady_clock::now();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  PipelinedWriter::Timing timing = sink.timing();
  // hash/write: busy time of the two worker threads; source_wait: the source waiting for a free buffer
  // (near stream_seconds - hash_seconds when SHA-256 is the bottleneck).
  log::Info("install pass", {{"slot", SlotName(standby)},
                             {"bytes", progress.bytes.load()},
                             {"stream_seconds", secs(t1 - t0)},
                             {"finish_seconds", secs(t2 - t1)},
                             {"prepare_seconds", secs(sink.prepare_time())},
                             {"hash_seconds", secs(timing.hash)},
                             {"write_seconds", secs(timing.write)},
                             {"source_wait_seconds", secs(timing.wait)},
                             {"hash_idle_seconds", secs(timing.hash_idle)},
                             {"backup_superblocks_relabeled", sink.backups_relabeled()},
                             {"ok", s.ok()}});
  if (!s.ok()) {
    sink.Cleanup();
    progress.phase = InstallPhase::kFailed;
    return s.WithContext(fmt::format("install into slot {}", SlotName(standby)));
  }
  progress.phase = InstallPhase::kDone;
  return Status::Ok();
}

}  // namespace kubeos::agent
